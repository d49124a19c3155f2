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
/// </summary>
public static class UkiImageWriter
{
    /// <exception cref="PeException">The inputs cannot form a valid image (signed stub, bad section name…).</exception>
    /// <exception cref="InvalidDataException">A stub or kernel is not a well-formed PE image.</exception>
    public static UkiImageSummary Write(UkiSpec spec, string outputPath, ICmsSigner? signer)
    {
        var image = Build(spec, out var uname);
        var sections = PeFile.Parse(image).Sections.Select(s => s.Name).ToList();
        if (signer is not null) image = AuthenticodeSigner.Sign(image, signer);
        StagedOutput.Write(outputPath, tmp => File.WriteAllBytes(tmp, image));
        return new UkiImageSummary(image.Length, sections, uname, signer is not null);
    }

    /// <summary>The unsigned image.</summary>
    public static byte[] Build(UkiSpec spec, out string? uname)
    {
        var stub = File.ReadAllBytes(spec.Stub);
        var builder = new UkiBuilder(stub, spec.Kind, Path.GetFileName(spec.Stub));
        uname = null;
        if (spec.Kernel is not null)
        {
            var kernel = File.ReadAllBytes(spec.Kernel);
            if (spec.KernelSigner is not null)
                kernel = AuthenticodeSigner.SignAligned(AuthenticodeSigner.RemoveSignature(kernel), spec.KernelSigner, (int)PeFile.Parse(stub).FileAlignment);
            builder.Add(UkiLayout.Linux, kernel);
            uname = string.IsNullOrEmpty(spec.Uname) ? LinuxKernelImage.TryReadRelease(kernel) : spec.Uname;
        }
        else if (!string.IsNullOrEmpty(spec.Uname)) uname = spec.Uname;
        if (!string.IsNullOrEmpty(uname)) builder.AddText(UkiLayout.Uname, uname);
        if (!string.IsNullOrEmpty(spec.CommandLine)) builder.AddText(UkiLayout.Cmdline, spec.CommandLine);
        if (!string.IsNullOrEmpty(spec.OsRelease)) builder.AddText(UkiLayout.Osrel, spec.OsRelease);
        if (!string.IsNullOrEmpty(spec.Splash)) builder.Add(UkiLayout.Splash, File.ReadAllBytes(spec.Splash));
        foreach (var dtb in spec.Devicetrees) builder.Add(UkiLayout.Dtb, File.ReadAllBytes(dtb));
        if (spec.Microcode.Count > 0) builder.Add(UkiLayout.Ucode, MicrocodeArchive(spec.Microcode, spec.SourceDateEpoch));
        if (spec.Initrds.Count > 0) builder.Add(UkiLayout.Initrd, Concatenate(spec.Initrds));
        foreach (var section in spec.ExtraSections) builder.Add(section.Name, File.ReadAllBytes(section.HostPath));
        if (!string.IsNullOrWhiteSpace(spec.Sbat)) builder.AddSbat(spec.Sbat);
        return builder.Build();
    }

    /// <summary>The initrds one after another, each padded with zeros to a 4-byte boundary (the kernel skips them).</summary>
    static byte[] Concatenate(IReadOnlyList<string> initrds)
    {
        if (initrds.Count == 1) return File.ReadAllBytes(initrds[0]);
        using var buffer = new MemoryStream();
        foreach (var path in initrds)
        {
            using (var file = File.OpenRead(path)) file.CopyTo(buffer);
            while (buffer.Length % 4 != 0) buffer.WriteByte(0);
        }
        return buffer.ToArray();
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
