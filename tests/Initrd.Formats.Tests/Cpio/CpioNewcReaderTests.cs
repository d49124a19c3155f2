using System.Text;
using Initrd.Formats.Compression;
using Initrd.Formats.Cpio;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Cpio;

/// <summary>The newc reader against archives written by GNU cpio (the oracle), plain, compressed and concatenated.</summary>
public sealed class CpioNewcReaderTests
{
    static string MakeTree(TempDirectory dir)
    {
        var root = dir.Combine("root");
        Directory.CreateDirectory(Path.Combine(root, "usr/lib"));
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        File.WriteAllText(Path.Combine(root, "usr/lib/os-release"), "ID=debian\nVERSION_ID=\"13\"\n");
        File.CreateSymbolicLink(Path.Combine(root, "etc/os-release"), "../usr/lib/os-release");
        File.WriteAllBytes(Path.Combine(root, "usr/lib/big"), Enumerable.Range(0, 100_003).Select(i => (byte)(i * 7)).ToArray());
        File.WriteAllText(Path.Combine(root, "empty"), "");
        return root;
    }

    static byte[] GnuCpio(string root)
    {
        var cpio = ReferenceTool.Require("cpio", "cpio");
        var r = ReferenceTool.Run("sh", ["-c", $"cd '{root}' && find . | LC_ALL=C sort | '{cpio}' -o -H newc --quiet"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.StandardOutputBytes;
    }

    [Fact]
    public void ReadsWhatGnuCpioWritesWithContentsAndSymlinks()
    {
        using var dir = new TempDirectory("cpio-reader");
        var archive = GnuCpio(MakeTree(dir));
        var members = CpioNewcReader.ReadAll(new MemoryStream(archive), p => p is "usr/lib/os-release" or "usr/lib/big");
        Assert.Equal(["", "empty", "etc", "etc/os-release", "usr", "usr/lib", "usr/lib/big", "usr/lib/os-release"],
            members.Select(m => m.Path == "." ? "" : m.Path).Order(StringComparer.Ordinal));
        Assert.Equal("../usr/lib/os-release", members.Single(m => m.Path == "etc/os-release").LinkTarget);
        Assert.Equal("ID=debian\nVERSION_ID=\"13\"\n", Encoding.UTF8.GetString(members.Single(m => m.Path == "usr/lib/os-release").Content!));
        Assert.Equal(File.ReadAllBytes(dir.Combine("root/usr/lib/big")), members.Single(m => m.Path == "usr/lib/big").Content);
        Assert.Null(members.Single(m => m.Path == "empty").Content);
    }

    [Theory]
    [InlineData(CompressionFormat.Zstd)]
    [InlineData(CompressionFormat.Xz)]
    [InlineData(CompressionFormat.Gzip)]
    public void ReadsAnUncompressedArchiveFollowedByACompressedOneAsTheKernelDoes(CompressionFormat format)
    {
        using var dir = new TempDirectory("cpio-reader");
        var main = GnuCpio(MakeTree(dir));
        var early = dir.Combine("early");
        Directory.CreateDirectory(Path.Combine(early, "kernel/x86/microcode"));
        File.WriteAllText(Path.Combine(early, "kernel/x86/microcode/GenuineIntel.bin"), "ucode");
        using var file = new MemoryStream();
        file.Write(GnuCpio(early));
        while (file.Length % 4 != 0) file.WriteByte(0);
        using (var compressed = CompressionStreams.OpenWrite(file, format, CompressionStreams.DefaultLevel(format), leaveOpen: true))
            compressed.Write(main);
        file.Position = 0;
        var members = CpioNewcReader.ReadAll(file, p => p == "usr/lib/os-release");
        Assert.Contains(members, m => m.Path == "kernel/x86/microcode/GenuineIntel.bin");
        Assert.Equal("ID=debian\nVERSION_ID=\"13\"\n", Encoding.UTF8.GetString(members.Single(m => m.Path == "usr/lib/os-release").Content!));
    }

    [Fact]
    public void TruncatedArchiveIsInvalidData()
    {
        using var dir = new TempDirectory("cpio-reader");
        var archive = GnuCpio(MakeTree(dir));
        Assert.Throws<InvalidDataException>(() => CpioNewcReader.ReadAll(new MemoryStream(archive[..(archive.Length / 2)])));
    }
}
