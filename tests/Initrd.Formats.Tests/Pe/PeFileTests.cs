using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using Initrd.Formats.Pe;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Pe;

/// <summary>The PE32+ header reader, against <c>objdump -p -h</c> on real images, and on malformed input.</summary>
public partial class PeFileTests
{
    [GeneratedRegex(@"^(?<key>SizeOfImage|SizeOfHeaders|CheckSum|SectionAlignment|FileAlignment|ImageBase|NumberOfRvaAndSizes|SizeOfCode|SizeOfInitializedData)\s+(?<value>[0-9a-f]+)", RegexOptions.Multiline)]
    private static partial Regex HeaderField();

    [Theory]
    [InlineData("stub")]
    [InlineData("addon")]
    [InlineData("kernel")]
    public void ReadsWhatObjdumpReads(string which)
    {
        var files = TrixieBootFiles.Get();
        var (path, bytes) = which switch
        {
            "stub" => (files.StubPath, files.Stub),
            "addon" => (files.AddonStubPath, files.AddonStub),
            _ => (files.KernelPath, files.Kernel),
        };
        var pe = PeFile.Parse(bytes);
        var objdump = ReferenceTool.Run(ReferenceTool.Require("objdump", "binutils"), ["-p", path]);
        Assert.True(objdump.ExitCode == 0, objdump.ToString());
        var fields = HeaderField().Matches(objdump.StandardOutput)
            .ToDictionary(m => m.Groups["key"].Value, m => ulong.Parse(m.Groups["value"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        Assert.Equal(fields["SizeOfImage"], pe.SizeOfImage);
        Assert.Equal(fields["SizeOfHeaders"], pe.SizeOfHeaders);
        Assert.Equal(fields["CheckSum"], pe.CheckSum);
        Assert.Equal(fields["SectionAlignment"], pe.SectionAlignment);
        Assert.Equal(fields["FileAlignment"], pe.FileAlignment);
        Assert.Equal(fields["ImageBase"], pe.ImageBase);
        Assert.Equal(fields["NumberOfRvaAndSizes"], pe.NumberOfRvaAndSizes);
        Assert.Equal(fields["SizeOfCode"], pe.SizeOfCode);
        Assert.Equal(fields["SizeOfInitializedData"], pe.SizeOfInitializedData);
        Assert.Equal(PeLayout.MachineAmd64, pe.Machine);
        Assert.Equal(PeLayout.SubsystemEfiApplication, pe.Subsystem);

        var listed = PeTools.Objdump(path);
        Assert.Equal(listed.Select(s => s.Name), pe.Sections.Select(s => s.Name));
        Assert.Equal(listed.Select(s => s.Vma), pe.Sections.Select(s => pe.ImageBase + s.VirtualAddress));
        Assert.Equal(listed.Select(s => s.FileOffset), pe.Sections.Select(s => (ulong)s.PointerToRawData));
        Assert.Equal(listed.Select(s => s.Size), pe.Sections.Select(s => (ulong)s.ContentLength));
        Assert.Equal(which == "kernel", pe.IsSigned);
    }

    [Fact]
    public void TheChecksumMatchesAStoredOneAndIgnoresItsOwnField()
    {
        var files = TrixieBootFiles.Get();
        var kernel = PeFile.Parse(files.Kernel);
        Assert.NotEqual(0u, kernel.CheckSum);
        Assert.Equal(kernel.CheckSum, PeChecksum.Compute(files.Kernel));
        var changed = (byte[])files.Kernel.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(changed.AsSpan(kernel.CheckSumFileOffset), 0x12345678);
        Assert.Equal(kernel.CheckSum, PeChecksum.Compute(changed));
        changed[^1] ^= 0xFF;
        Assert.NotEqual(kernel.CheckSum, PeChecksum.Compute(changed));
    }

    [Fact]
    public void TheChecksumOfPiecesAtAnyOffsetsIsTheChecksumOfTheWhole()
    {
        var data = new byte[10_001];
        new Random(5).NextBytes(data);
        var whole = PeChecksum.Compute(data, checkSumFileOffset: 0x99);
        foreach (var cut in new[] { 1, 2, 3, 0x98, 0x9A, 0x9B, 5000, 10_000 })
        {
            var accumulator = new PeChecksum.Accumulator(0x99);
            accumulator.Add(data.AsSpan(cut), cut);
            accumulator.Add(data.AsSpan(0, cut), 0);
            Assert.Equal(whole, accumulator.Finish(data.Length));
        }
        // Reference: 16-bit words with the carry folded after every addition.
        ulong sum = 0;
        for (var i = 0; i < data.Length; i += 2)
        {
            int Byte(int at) => at >= data.Length || (at >= 0x99 && at < 0x9D) ? 0 : data[at];
            sum += (ulong)(Byte(i) | Byte(i + 1) << 8);
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        sum = (sum & 0xFFFF) + (sum >> 16);
        Assert.Equal((uint)sum + (uint)data.Length, whole);
    }

    [Fact]
    public void AChecksumCarriesForwardToALongerFile()
    {
        var data = new byte[10_240];
        new Random(9).NextBytes(data);
        var extra = new byte[777];
        new Random(10).NextBytes(extra);
        var first = PeChecksum.Compute(data, checkSumFileOffset: 0x99);
        var resumed = PeChecksum.Accumulator.Resume(first, data.Length, 0x99);
        resumed.Add(extra, data.Length);
        Assert.Equal(PeChecksum.Compute([.. data, .. extra], checkSumFileOffset: 0x99), resumed.Finish(data.Length + extra.Length));
    }

    [Fact]
    public void HeadersAreReadFromTheStartOfALongerFile()
    {
        var kernel = TrixieBootFiles.Get().Kernel;
        var whole = PeFile.Parse(kernel);
        var fromHead = PeFile.Parse(kernel.AsSpan(0, PeFile.MaxHeaderLength), kernel.Length);
        Assert.Equal(whole.Sections.Select(s => (s.Name, s.PointerToRawData, s.SizeOfRawData)), fromHead.Sections.Select(s => (s.Name, s.PointerToRawData, s.SizeOfRawData)));
        Assert.Equal(kernel.Length, fromHead.FileLength);
        // Too little of the file to hold its section table: refused, not read past.
        var e = Assert.Throws<InvalidDataException>(() => PeFile.Parse(kernel.AsSpan(0, whole.SectionTableEnd - 1), kernel.Length));
        Assert.Contains("past the first", e.Message);
        Assert.Throws<InvalidDataException>(() => PeFile.Parse(kernel.AsSpan(0, 10), kernel.Length));
    }

    static byte[] Minimal()
    {
        // The addon stub is small and real: use it as the base of malformed copies.
        return (byte[])TrixieBootFiles.Get().AddonStub.Clone();
    }

    [Fact]
    public void MalformedHeadersAreReportedWithFieldValueAndOffset()
    {
        var e = Assert.Throws<InvalidDataException>(() => PeFile.Parse(new byte[10]));
        Assert.Contains("10 bytes long", e.Message);

        var bad = Minimal();
        bad[0] = (byte)'X';
        e = Assert.Throws<InvalidDataException>(() => PeFile.Parse(bad));
        Assert.Contains("e_magic at offset 0 is 58 5A", e.Message);

        bad = Minimal();
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(0x3C), 0xFFFF);
        e = Assert.Throws<InvalidDataException>(() => PeFile.Parse(bad));
        Assert.Contains("e_lfanew at offset 0x3C is 0xFFFF", e.Message);

        bad = Minimal();
        var pe = PeFile.Parse(bad);
        bad[pe.PeHeaderOffset + 1] = (byte)'X';
        e = Assert.Throws<InvalidDataException>(() => PeFile.Parse(bad));
        Assert.Contains($"signature at offset 0x{pe.PeHeaderOffset:X}", e.Message);

        bad = Minimal();
        BinaryPrimitives.WriteUInt16LittleEndian(bad.AsSpan(pe.CoffHeaderOffset + PeLayout.NumberOfSectionsOffset), 200);
        e = Assert.Throws<InvalidDataException>(() => PeFile.Parse(bad));
        Assert.Contains("NumberOfSections = 200", e.Message);

        bad = Minimal();
        BinaryPrimitives.WriteUInt16LittleEndian(bad.AsSpan(pe.OptionalHeaderOffset), 0x1234);
        e = Assert.Throws<InvalidDataException>(() => PeFile.Parse(bad));
        Assert.Contains($"Magic at offset 0x{pe.OptionalHeaderOffset:X} is 0x1234", e.Message);

        bad = Minimal();
        BinaryPrimitives.WriteUInt16LittleEndian(bad.AsSpan(pe.OptionalHeaderOffset), PeLayout.Pe32Magic);
        Assert.Equal(PeErrorKind.Unsupported, Assert.Throws<PeException>(() => PeFile.Parse(bad)).Kind);

        bad = Minimal();
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(pe.OptionalHeaderOffset + PeLayout.FileAlignmentOffset), 300);
        e = Assert.Throws<InvalidDataException>(() => PeFile.Parse(bad));
        Assert.Contains("FileAlignment", e.Message);

        bad = Minimal();
        var section = pe.Sections[1];
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(section.HeaderOffset + PeLayout.SizeOfRawDataOffset), 0x10000);
        e = Assert.Throws<InvalidDataException>(() => PeFile.Parse(bad));
        Assert.Contains($"section 1 ('.sdmagic', header at offset 0x{section.HeaderOffset:X}) has PointerToRawData 0x{section.PointerToRawData:X} and SizeOfRawData 0x10000", e.Message);

        bad = Minimal();
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(pe.CertificateTableEntryFileOffset), 0x100000);
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(pe.CertificateTableEntryFileOffset + 4), 16);
        e = Assert.Throws<InvalidDataException>(() => PeFile.Parse(bad));
        Assert.Contains($"Certificate Table entry at offset 0x{pe.CertificateTableEntryFileOffset:X}", e.Message);

        bad = Minimal();
        bad[section.HeaderOffset + 1] = 0x07;
        e = Assert.Throws<InvalidDataException>(() => PeFile.Parse(bad));
        Assert.Contains($"section name at offset 0x{section.HeaderOffset:X}", e.Message);

        // Never an exception of another type, whatever single byte of the headers is changed.
        var original = Minimal();
        for (var i = 0; i < PeFile.Parse(original).SizeOfHeaders; i++)
        {
            foreach (var value in new byte[] { 0x00, 0xFF, 0x80 })
            {
                var copy = (byte[])original.Clone();
                copy[i] = value;
                try { PeFile.Parse(copy); }
                catch (InvalidDataException) { }
                catch (PeException) { }
            }
        }
    }
}
