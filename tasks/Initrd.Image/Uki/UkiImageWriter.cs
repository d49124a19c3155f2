using System.Text;
using Initrd.Formats.Authenticode;
using Initrd.Formats.Common;
using Initrd.Formats.Cpio;
using Initrd.Formats.Pe;
using Initrd.Image.Pack;

namespace Initrd.Image.Uki;

/// <summary>What <see cref="UkiImageWriter.Write"/> wrote.</summary>
public sealed record UkiImageSummary(long FileBytes, IReadOnlyList<string> Sections, string? Uname, bool Signed);

/// <summary>
/// Assembles a UKI or PE addon from a <see cref="UkiSpec"/> (through <see cref="UkiBuilder"/>), signs it when a
/// signer is given, and writes it whole or not at all. The unsigned bytes depend only on the spec's inputs.
/// The kernel and the initrds are streamed from their files into the output, never held whole in memory.
/// </summary>
public static class UkiImageWriter
{
    /// <exception cref="PeException">The inputs cannot form a valid image (signed stub, bad section name…).</exception>
    /// <exception cref="InvalidDataException">A stub or kernel is not a well-formed PE image.</exception>
    public static UkiImageSummary Write(UkiSpec spec, string outputPath, ICmsSigner? signer)
    {
        var sources = new List<ByteSource>();
        try
        {
            var builder = CreateBuilder(spec, sources, out var uname);
            return StagedOutput.Write(outputPath, temporary =>
            {
                using var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
                using var hasher = signer is null ? null : new AuthenticodeHasher(signer.DigestAlgorithm);
                var headers = builder.WriteTo(file, hasher);
                if (signer is not null) AuthenticodeSigner.Sign(file, signer, hasher);
                return new UkiImageSummary(file.Length, [.. headers.Sections.Select(s => s.Name)], uname, signer is not null);
            });
        }
        finally
        {
            foreach (var source in sources) source.Dispose();
        }
    }

    /// <summary>The builder for <paramref name="spec"/>, with every file it will read opened into <paramref name="sources"/> (for the caller to dispose).</summary>
    static UkiBuilder CreateBuilder(UkiSpec spec, List<ByteSource> sources, out string? uname)
    {
        ByteSource Open(string path)
        {
            var source = ByteSource.FromFile(path);
            sources.Add(source);
            return source;
        }

        var stub = File.ReadAllBytes(spec.Stub);
        var builder = new UkiBuilder(stub, spec.Kind, Path.GetFileName(spec.Stub));
        uname = null;
        if (spec.Kernel is not null)
        {
            ByteSource kernel;
            if (spec.KernelSigner is not null)
                kernel = AuthenticodeSigner.SignAligned(AuthenticodeSigner.RemoveSignature(File.ReadAllBytes(spec.Kernel)), spec.KernelSigner, (int)PeFile.Parse(stub).FileAlignment);
            else kernel = Open(spec.Kernel);
            builder.Add(UkiLayout.Linux, kernel);
            uname = string.IsNullOrEmpty(spec.Uname) ? LinuxKernelImage.TryReadRelease(kernel.ReadHead(LinuxKernelImage.ReleaseReadLength)) : spec.Uname;
        }
        else if (!string.IsNullOrEmpty(spec.Uname)) uname = spec.Uname;
        if (!string.IsNullOrEmpty(uname)) builder.AddText(UkiLayout.Uname, uname);
        if (!string.IsNullOrEmpty(spec.CommandLine)) builder.AddText(UkiLayout.Cmdline, spec.CommandLine);
        if (!string.IsNullOrEmpty(spec.OsRelease)) builder.AddText(UkiLayout.Osrel, spec.OsRelease);
        if (!string.IsNullOrEmpty(spec.Splash)) builder.Add(UkiLayout.Splash, Open(spec.Splash));
        foreach (var dtb in spec.Devicetrees) builder.Add(UkiLayout.Dtb, Open(dtb));
        if (spec.Microcode.Count > 0) builder.Add(UkiLayout.Ucode, MicrocodeArchive(spec.Microcode, spec.SourceDateEpoch));
        // The initrds one after another, each padded with zeros to a 4-byte boundary (the kernel skips them).
        if (spec.Initrds.Count > 0) builder.Add(UkiLayout.Initrd, ByteSource.Concatenate([.. spec.Initrds.Select(Open)], alignment: 4));
        foreach (var section in spec.ExtraSections) builder.Add(section.Name, Open(section.HostPath));
        if (!string.IsNullOrWhiteSpace(spec.Sbat)) builder.AddSbat(spec.Sbat);
        return builder;
    }

    static byte[] MicrocodeArchive(IReadOnlyList<MicrocodeBlob> microcode, long epoch)
    {
        using var buffer = new MemoryStream();
        CpioArchiveWriter.Write(buffer, CpioImageWriter.MicrocodeEntries(microcode, epoch), new CpioWriteOptions { SourceDateEpoch = epoch });
        return buffer.ToArray();
    }

    /// <summary>The text of a file (os-release, …); bytes that are not UTF-8 throw.</summary>
    public static string ReadText(string path) => DecodeText(File.ReadAllBytes(path));

    /// <summary>UTF-8 text; bytes that are not UTF-8 throw.</summary>
    public static string DecodeText(byte[] bytes) => new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
}
