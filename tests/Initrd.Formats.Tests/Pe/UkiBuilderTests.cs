using System.Buffers.Binary;
using System.Text;
using Initrd.Formats.Pe;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Pe;

/// <summary>UKIs and addons built from Debian trixie's systemd-stub and kernel, checked with binutils.</summary>
public class UkiBuilderTests(ITestOutputHelper output)
{
    const string OsRelease = "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nID=debian\n";
    const string Cmdline = "console=ttyS0 rd.systemd.unit=initrd.target quiet";

    static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    static byte[] B(params byte[] bytes) => bytes;

    static UkiBuilder SampleUki(TrixieBootFiles files, byte[] initrd) => new UkiBuilder(files.Stub, UkiKind.Uki, "linuxx64.efi.stub")
        .Add(UkiLayout.Linux, files.Kernel)          // added first on purpose: placement follows UkiLayout, not the call order
        .AddText(UkiLayout.Cmdline, Cmdline)
        .Add(UkiLayout.Initrd, initrd)
        .AddText(UkiLayout.Uname, files.KernelRelease)
        .AddText(UkiLayout.Osrel, OsRelease);

    static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) / alignment * alignment;

    [Fact]
    public void ObjdumpListsTheSectionsWithTheIntendedSizesAndAddresses()
    {
        var files = TrixieBootFiles.Get();
        var initrd = TrixieBootFiles.Noise(1_000_003, seed: 1);
        using var temp = new TempDirectory("uki");
        var uki = SampleUki(files, initrd).Build();
        var path = temp.Combine("uki.efi");
        File.WriteAllBytes(path, uki);

        var stub = PeFile.Parse(files.Stub);
        var kernel = PeFile.Parse(files.Kernel);
        var listed = PeTools.Objdump(path);
        var sbat = PeFile.GetContent(uki, PeFile.Parse(uki).FindSection(".sbat")!).ToArray();
        foreach (var s in listed) output.WriteLine($"{s.Index,2} {s.Name,-9} size 0x{s.Size:x8} vma 0x{s.Vma:x16} file 0x{s.FileOffset:x8}");

        // The stub's sections first, where they were in memory, with the same sizes (.sbat now holds the merged text).
        Assert.Equal([.. stub.Sections.Select(s => s.Name), ".osrel", ".cmdline", ".uname", ".initrd", ".linux"], listed.Select(s => s.Name));
        for (var i = 0; i < stub.Sections.Count; i++)
        {
            var s = stub.Sections[i];
            Assert.Equal(stub.ImageBase + s.VirtualAddress, listed[i].Vma);
            Assert.Equal(s.Name == ".sbat" ? (ulong)sbat.Length : s.VirtualSize, listed[i].Size);
        }

        // New sections: one after the other at 4 KiB multiples, starting where the stub's image ended.
        var expected = new (string Name, ulong Size, ulong MemorySize)[]
        {
            (".osrel", (ulong)OsRelease.Length, (ulong)OsRelease.Length),
            (".cmdline", (ulong)Cmdline.Length, (ulong)Cmdline.Length),
            (".uname", (ulong)files.KernelRelease.Length, (ulong)files.KernelRelease.Length),
            (".initrd", (ulong)initrd.Length, (ulong)initrd.Length),
            // BFD lists min(VirtualSize, SizeOfRawData): the kernel file padded to 512 bytes; in memory it takes SizeOfImage.
            (".linux", AlignUp((ulong)files.Kernel.Length, stub.FileAlignment), kernel.SizeOfImage),
        };
        var rva = AlignUp(stub.SizeOfImage, stub.SectionAlignment);
        var fileOffset = 0UL;
        for (var i = 0; i < expected.Length; i++)
        {
            var s = listed[stub.Sections.Count + i];
            Assert.Equal(expected[i].Name, s.Name);
            Assert.Equal(expected[i].Size, s.Size);
            Assert.Equal(stub.ImageBase + rva, s.Vma);
            Assert.Equal(0UL, s.FileOffset % stub.FileAlignment);
            Assert.True(s.FileOffset > fileOffset, $"{s.Name} is not after the previous section in the file");
            fileOffset = s.FileOffset;
            rva = AlignUp(rva + expected[i].MemorySize, stub.SectionAlignment);
        }

        // Header fields: SizeOfImage covers .linux's SizeOfImage; timestamp untouched; checksum is the standard one.
        var built = PeFile.Parse(uki);
        Assert.Equal(rva, built.SizeOfImage);
        Assert.Equal(stub.TimeDateStamp, built.TimeDateStamp);
        Assert.Equal(stub.SizeOfHeaders, built.SizeOfHeaders);
        Assert.Equal((ushort)(stub.NumberOfSections + 5), built.NumberOfSections);
        Assert.Equal(stub.SizeOfCode + kernel.SizeOfImage, built.SizeOfCode);
        Assert.Equal(PeChecksum.Compute(uki), built.CheckSum);
        Assert.NotEqual(0u, built.CheckSum);
        Assert.Equal(fileOffset + AlignUp((ulong)files.Kernel.Length, stub.FileAlignment), (ulong)uki.Length);
    }

    [Fact]
    public void ObjcopyDumpsOurSectionContentsByteForByte()
    {
        var files = TrixieBootFiles.Get();
        var initrd = TrixieBootFiles.Noise(3_000_001, seed: 2);
        using var temp = new TempDirectory("uki");
        var path = temp.Combine("uki.efi");
        File.WriteAllBytes(path, SampleUki(files, initrd).AddSbat("initrd-sdk,1,Initrd.Sdk,initrd-sdk,0.1,https://example.invalid/initrd-sdk").Build());

        var dumped = PeTools.DumpSections(path, temp, ".cmdline", ".osrel", ".uname", ".initrd", ".linux", ".sbat");
        Assert.Equal(Ascii(Cmdline), dumped[".cmdline"]);
        Assert.Equal(Ascii(OsRelease), dumped[".osrel"]);
        Assert.Equal(Ascii(files.KernelRelease), dumped[".uname"]);
        Assert.Equal(initrd, dumped[".initrd"]);
        // .linux: the whole kernel file (with Debian's signature), then the zero padding to the file alignment.
        Assert.Equal(files.Kernel, dumped[".linux"][..files.Kernel.Length]);
        Assert.True(dumped[".linux"].AsSpan(files.Kernel.Length).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(dumped[".linux"].Length - files.Kernel.Length < 512);

        // .sbat: the header line once and first, then the stub's entries, then ours; NUL-terminated.
        var stubSbat = Sbat.ParseEntries(Encoding.ASCII.GetString(PeTools.DumpSections(files.StubPath, temp, ".sbat")[".sbat"]), "stub");
        Assert.Equal(2, stubSbat.Count); // systemd-stub and systemd-stub.debian
        var expected = string.Join("", new[] { Sbat.HeaderLine }.Concat(stubSbat)
            .Append("initrd-sdk,1,Initrd.Sdk,initrd-sdk,0.1,https://example.invalid/initrd-sdk").Select(l => l + "\n")) + "\0";
        Assert.Equal(expected, Encoding.ASCII.GetString(dumped[".sbat"]));
        output.WriteLine(Encoding.ASCII.GetString(dumped[".sbat"]));
    }

    [Fact]
    public void SbatMergesStubKernelAndCallerWithTheHeaderLineOnceAndFirst()
    {
        var files = TrixieBootFiles.Get();
        // Debian's kernel has no .sbat; make a stand-in kernel that has one: the addon stub plus a .sbat section.
        var kernelSbat = $"{Sbat.HeaderLine}\nlinux,1,The Linux Developers,linux,6.12,https://linux.org\r\nlinux.debian,1,Debian,linux,6.12.107-1,https://tracker.debian.org/pkg/linux\n\0\0";
        var kernelAppender = new PeSectionAppender(files.AddonStub);
        kernelAppender.Add(".sbat", Ascii(kernelSbat));
        var kernel = kernelAppender.Build();

        var uki = new UkiBuilder(files.Stub)
            .Add(".linux", kernel)
            .AddSbat($"{Sbat.HeaderLine}\nvendor.uki,2,Vendor,uki,1.0,https://vendor.invalid/\n")
            .AddSbat("systemd-stub,1,The systemd Developers,systemd,257,https://systemd.io/\nextra,1,E,e,1,https://e.invalid") // a stub entry again, then one more
            .Build();
        var text = Encoding.ASCII.GetString(PeFile.GetContent(uki, PeFile.Parse(uki).FindSection(".sbat")!));
        Assert.Equal(
            Sbat.HeaderLine + "\n" +
            "systemd-stub,1,The systemd Developers,systemd,257,https://systemd.io/\n" +
            "systemd-stub.debian,1,Debian GNU/Linux,systemd,257.13-1~deb13u1,https://tracker.debian.org/pkg/systemd\n" +
            "linux,1,The Linux Developers,linux,6.12,https://linux.org\n" +
            "linux.debian,1,Debian,linux,6.12.107-1,https://tracker.debian.org/pkg/linux\n" +
            "vendor.uki,2,Vendor,uki,1.0,https://vendor.invalid/\n" +
            "extra,1,E,e,1,https://e.invalid\n\0",
            text);

        // Without caller entries, ukify's default UKI entry.
        var byDefault = new UkiBuilder(files.Stub).Add(".linux", files.Kernel).Build();
        var defaultText = Encoding.ASCII.GetString(PeFile.GetContent(byDefault, PeFile.Parse(byDefault).FindSection(".sbat")!));
        Assert.EndsWith($"\n{UkiLayout.DefaultUkiSbatEntry}\n\0", defaultText);
        Assert.StartsWith(Sbat.HeaderLine + "\n", defaultText);
    }

    [Fact]
    public void BuildingTwiceGivesIdenticalBytes()
    {
        var files = TrixieBootFiles.Get();
        var initrd = TrixieBootFiles.Noise(500_000, seed: 3);
        var first = SampleUki(files, initrd).Build();
        var second = SampleUki(files, (byte[])initrd.Clone()).Build();
        Assert.Equal(first, second);
        // Also when the sections are added in another order.
        var reordered = new UkiBuilder(files.Stub, UkiKind.Uki, "linuxx64.efi.stub")
            .AddText(UkiLayout.Osrel, OsRelease).AddText(UkiLayout.Uname, files.KernelRelease).Add(UkiLayout.Initrd, initrd)
            .AddText(UkiLayout.Cmdline, Cmdline).Add(UkiLayout.Linux, files.Kernel).Build();
        Assert.Equal(first, reordered);
    }

    [Fact]
    public void AddonFromTheDebianAddonStubKeepsTheStubIntact()
    {
        var files = TrixieBootFiles.Get();
        using var temp = new TempDirectory("addon");
        var stub = PeFile.Parse(files.AddonStub);
        Assert.Null(stub.FindSection(".sbat")); // systemd 257's addon stub has no .sbat: ours is appended

        var addon = new UkiBuilder(files.AddonStub, UkiKind.Addon).AddText(".cmdline", " systemd.log_level=debug").Build();
        var path = temp.Combine("debug.addon.efi");
        File.WriteAllBytes(path, addon);
        var built = PeFile.Parse(addon);
        Assert.Equal(stub.SizeOfHeaders, built.SizeOfHeaders);
        Assert.Equal([".text", ".sdmagic", ".cmdline", ".sbat"], built.Sections.Select(s => s.Name));

        var listed = PeTools.Objdump(path);
        Assert.Equal([".text", ".sdmagic", ".cmdline", ".sbat"], listed.Select(s => s.Name));
        for (var i = 0; i < stub.Sections.Count; i++)
        {
            Assert.Equal(stub.ImageBase + stub.Sections[i].VirtualAddress, listed[i].Vma);
            Assert.Equal(stub.Sections[i].PointerToRawData, listed[i].FileOffset);
            Assert.Equal(PeFile.GetContent(files.AddonStub, stub.Sections[i]).ToArray(), PeFile.GetContent(addon, built.Sections[i]).ToArray());
        }
        var end = AlignUp(stub.SizeOfImage, stub.SectionAlignment);
        Assert.Equal(stub.ImageBase + end, listed[2].Vma);
        Assert.Equal(stub.ImageBase + end + 0x1000, listed[3].Vma);
        var dumped = PeTools.DumpSections(path, temp, ".cmdline", ".sbat");
        Assert.Equal(" systemd.log_level=debug", Encoding.ASCII.GetString(dumped[".cmdline"]));
        Assert.Equal($"{Sbat.HeaderLine}\n{UkiLayout.DefaultAddonSbatEntry}\n\0", Encoding.ASCII.GetString(dumped[".sbat"]));
        Assert.Equal(PeChecksum.Compute(addon), built.CheckSum);
    }

    [Fact]
    public void AnSbatThatOutgrowsTheStubsRawSectionMovesTheLaterSectionsDownTheFile()
    {
        var files = TrixieBootFiles.Get();
        using var temp = new TempDirectory("uki");
        var stub = PeFile.Parse(files.Stub);
        var stubSbat = stub.FindSection(".sbat")!;
        // Ten vendor lines: more than the stub's 512 bytes of raw .sbat, less than the 4 KiB before .sdmagic.
        var lines = string.Join("\n", Enumerable.Range(1, 10).Select(i => $"vendor{i},1,Vendor {i},vendor-uki,1.0,https://vendor.invalid/{i}"));
        var uki = new UkiBuilder(files.Stub).Add(".linux", files.Kernel).AddText(".cmdline", Cmdline).AddSbat(lines).Build();
        var path = temp.Combine("uki.efi");
        File.WriteAllBytes(path, uki);
        var built = PeFile.Parse(uki);
        var sbat = built.FindSection(".sbat")!;
        Assert.True(sbat.VirtualSize > stubSbat.SizeOfRawData);
        Assert.Equal(stubSbat.VirtualAddress, sbat.VirtualAddress);
        var growth = sbat.SizeOfRawData - stubSbat.SizeOfRawData;
        Assert.Equal(stub.FindSection(".sdmagic")!.PointerToRawData + growth, built.FindSection(".sdmagic")!.PointerToRawData);

        var dumped = PeTools.DumpSections(path, temp, ".sbat", ".sdmagic", ".reloc", ".cmdline");
        Assert.EndsWith(lines + "\n\0", Encoding.ASCII.GetString(dumped[".sbat"]));
        Assert.Equal(PeFile.GetContent(files.Stub, stub.FindSection(".sdmagic")!).ToArray(), dumped[".sdmagic"]);
        Assert.Equal(PeFile.GetContent(files.Stub, stub.FindSection(".reloc")!).ToArray(), dumped[".reloc"]);
        Assert.Equal(Cmdline, Encoding.ASCII.GetString(dumped[".cmdline"]));
    }

    [Fact]
    public void RefusesASignedStub()
    {
        var files = TrixieBootFiles.Get();
        // Debian's kernel is a signed PE image: as a "stub" it must be refused before anything is written.
        var e = Assert.Throws<PeException>(() => new UkiBuilder(files.Kernel).Add(".linux", files.Kernel).Build());
        Assert.Equal(PeErrorKind.StubSigned, e.Kind);
        Assert.Contains("unsigned stub", e.Message);

        // And a stub with a certificate table entry that we made up.
        var signedStub = (byte[])files.Stub.Clone();
        var headers = PeFile.Parse(signedStub);
        var entry = headers.CertificateTableEntryFileOffset;
        BinaryPrimitives.WriteUInt32LittleEndian(signedStub.AsSpan(entry), (uint)signedStub.Length - 8);
        BinaryPrimitives.WriteUInt32LittleEndian(signedStub.AsSpan(entry + 4), 8);
        e = Assert.Throws<PeException>(() => new PeSectionAppender(signedStub));
        Assert.Equal(PeErrorKind.StubSigned, e.Kind);
    }

    [Fact]
    public void RefusesASectionNameOverEightBytes()
    {
        var files = TrixieBootFiles.Get();
        var e = Assert.Throws<PeException>(() => new UkiBuilder(files.Stub).Add(".toolongx", B(1)));
        Assert.Equal(PeErrorKind.InvalidSectionName, e.Kind);
        Assert.Equal(".toolongx", e.Section);
        Assert.Contains("9 bytes", e.Message);
        Assert.Equal(PeErrorKind.InvalidSectionName, Assert.Throws<PeException>(() => new PeSectionAppender(files.Stub).Add("", B(1))).Kind);
        Assert.Equal(PeErrorKind.InvalidSectionName, Assert.Throws<PeException>(() => new PeSectionAppender(files.Stub).Add(".a b", B(1))).Kind);
        new PeSectionAppender(files.Stub).Add(".8bytes.", B(1)); // exactly 8 is fine
    }

    [Fact]
    public void RefusesDuplicateSections()
    {
        var files = TrixieBootFiles.Get();
        var e = Assert.Throws<PeException>(() => new UkiBuilder(files.Stub).AddText(".cmdline", "a").AddText(".cmdline", "b"));
        Assert.Equal(PeErrorKind.DuplicateSection, e.Kind);
        e = Assert.Throws<PeException>(() => new UkiBuilder(files.Stub).Add(".initrd", B(1)).Add(".initrd", B(2)));
        Assert.Contains("Concatenate", e.Message);
        // An extra section the stub already has.
        e = Assert.Throws<PeException>(() => new UkiBuilder(files.Stub).Add(".linux", files.Kernel).Add(".sdmagic", B(1)).Build());
        Assert.Equal(PeErrorKind.DuplicateSection, e.Kind);
        Assert.Equal(".sdmagic", e.Section);
        // Extra sections twice.
        Assert.Equal(PeErrorKind.DuplicateSection, Assert.Throws<PeException>(() => new UkiBuilder(files.Stub).Add(".extra", B(1)).Add(".extra", B(1))).Kind);
        // .dtb may repeat (UKI specification).
        var uki = new UkiBuilder(files.Stub).Add(".linux", files.Kernel).Add(".dtb", B(1, 2)).Add(".dtb", B(3, 4)).Build();
        Assert.Equal(2, PeFile.Parse(uki).Sections.Count(s => s.Name == ".dtb"));
    }

    [Fact]
    public void RefusesMoreSectionHeadersThanTheHeaderAreaCanGrowTo()
    {
        var files = TrixieBootFiles.Get();
        var stub = PeFile.Parse(files.Stub);
        // The headers may grow up to the first section in memory (RVA 0x1000): (0x1000 - table start) / 40 headers in all.
        var fit = (int)((stub.Sections.Min(s => s.VirtualAddress) - stub.SectionTableOffset) / 40) - stub.Sections.Count;
        var appender = new PeSectionAppender(files.Stub, "linuxx64.efi.stub");
        for (var i = 0; i < fit; i++) appender.Add($".x{i}", B((byte)i));
        var image = appender.Build(); // exactly full: fine
        Assert.Equal(stub.Sections.Min(s => s.VirtualAddress), PeFile.Parse(image).SizeOfHeaders);

        appender.Add(".onemore", B(1));
        var e = Assert.Throws<PeException>(appender.Build);
        Assert.Equal(PeErrorKind.HeaderRoomExhausted, e.Kind);
        Assert.Contains($"room for {fit} more section headers", e.Message);
        output.WriteLine(e.Message);
    }

    /// <summary>A copy of the stub whose SizeOfHeaders ends right after its section table: no room for a single header.</summary>
    internal static byte[] TightStub(byte[] stub)
    {
        var tight = (byte[])stub.Clone();
        var headers = PeFile.Parse(tight);
        BinaryPrimitives.WriteUInt32LittleEndian(tight.AsSpan(headers.OptionalHeaderOffset + PeLayout.SizeOfHeadersOffset), (uint)headers.SectionTableEnd);
        return tight;
    }

    [Fact]
    public void AStubWithSmallSizeOfHeadersGetsItsHeadersGrownOrIsRefusedWhenItCannotMove()
    {
        var files = TrixieBootFiles.Get();
        using var temp = new TempDirectory("uki");
        var tight = TightStub(files.Stub);
        var stub = PeFile.Parse(tight);
        Assert.Equal(0, (int)(stub.SizeOfHeaders - stub.SectionTableEnd) / 40);

        // The section data starts at 0x600, so headers up to 0x600 need no move at all: they grow to meet the data.
        var uki = new UkiBuilder(tight).Add(".linux", files.Kernel).AddText(".cmdline", Cmdline).Build();
        var built = PeFile.Parse(uki);
        Assert.Equal(0x600u, built.SizeOfHeaders);
        Assert.Equal(stub.Sections[0].PointerToRawData, built.Sections[0].PointerToRawData);
        File.WriteAllBytes(temp.Combine("uki.efi"), uki);
        Assert.Equal(Cmdline, Encoding.ASCII.GetString(PeTools.DumpSections(temp.Combine("uki.efi"), temp, ".cmdline")[".cmdline"]));

        // 30 more headers reach past 0x600: every section's raw data moves down the file by 0x200, not in memory.
        var moved = MovedUki(files);
        File.WriteAllBytes(temp.Combine("moved.efi"), moved);
        var listed = PeTools.Objdump(temp.Combine("moved.efi"));
        for (var i = 0; i < stub.Sections.Count; i++)
        {
            Assert.Equal(stub.ImageBase + stub.Sections[i].VirtualAddress, listed[i].Vma);
            Assert.Equal(stub.Sections[i].PointerToRawData + 0x200UL, listed[i].FileOffset);
        }
        Assert.Equal(0x800u, PeFile.Parse(moved).SizeOfHeaders);
        var dumped = PeTools.DumpSections(temp.Combine("moved.efi"), temp, ".text", ".reloc", ".x29");
        Assert.Equal(PeFile.GetContent(files.Stub, stub.Sections[0]).ToArray(), dumped[".text"]);
        Assert.Equal(PeFile.GetContent(files.Stub, stub.FindSection(".reloc")!).ToArray(), dumped[".reloc"]);
        Assert.Equal(B(29), dumped[".x29"]);

        // With a debug directory, file data cannot move (its entries hold file offsets): refused when the headers must
        // grow past the first section's data.
        var withDebug = (byte[])tight.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(withDebug.AsSpan(stub.DataDirectoryFileOffset(PeLayout.DebugIndex)), stub.Sections[1].VirtualAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(withDebug.AsSpan(stub.DataDirectoryFileOffset(PeLayout.DebugIndex) + 4), 28);
        var appender = new PeSectionAppender(withDebug);
        for (var i = 0; i < 30; i++) appender.Add($".x{i}", B((byte)i));
        var e = Assert.Throws<PeException>(appender.Build);
        Assert.Equal(PeErrorKind.HeaderRoomExhausted, e.Kind);
        Assert.Contains("debug directory", e.Message);
    }

    /// <summary>A UKI from <see cref="TightStub"/> with 30 extra sections, so that the stub's section data had to move.</summary>
    internal static byte[] MovedUki(TrixieBootFiles files) => MovedUkiBuilder(files).Build();

    internal static UkiBuilder MovedUkiBuilder(TrixieBootFiles files)
    {
        var builder = new UkiBuilder(TightStub(files.Stub)).Add(".linux", files.Kernel).AddText(".cmdline", Cmdline);
        for (var i = 0; i < 30; i++) builder.Add($".x{i}", B((byte)i));
        return builder;
    }

    [Fact]
    public void RefusesAnImageOverWhatPe32PlusCanDescribe()
    {
        var files = TrixieBootFiles.Get();
        var appender = new PeSectionAppender(files.Stub);
        appender.Add(".initrd", B(1, 2, 3), virtualSize: uint.MaxValue - 0x1000);
        var e = Assert.Throws<PeException>(appender.Build);
        Assert.Equal(PeErrorKind.ImageTooLarge, e.Kind);
        Assert.Equal(".initrd", e.Section);
        Assert.Contains("compress the initrd", e.Message);
    }

    [Fact]
    public void RefusesAddonAndUkiSectionSetsTheSpecificationForbids()
    {
        var files = TrixieBootFiles.Get();
        Assert.Equal(PeErrorKind.SectionNotAllowed, Assert.Throws<PeException>(() => new UkiBuilder(files.AddonStub, UkiKind.Addon).Add(".linux", files.Kernel)).Kind);
        Assert.Equal(PeErrorKind.SectionNotAllowed, Assert.Throws<PeException>(() => new UkiBuilder(files.AddonStub, UkiKind.Addon).AddText(".osrel", "ID=x")).Kind);
        Assert.Equal(PeErrorKind.SectionNotAllowed, Assert.Throws<PeException>(() => new UkiBuilder(files.AddonStub, UkiKind.Addon).AddSbat("a,1").Build()).Kind);
        Assert.Equal(PeErrorKind.SectionNotAllowed, Assert.Throws<PeException>(() => new UkiBuilder(files.Stub).AddText(".cmdline", "x").Build()).Kind);
        Assert.Equal(PeErrorKind.EmptySection, Assert.Throws<PeException>(() => new UkiBuilder(files.Stub).Add(".cmdline", Array.Empty<byte>())).Kind);
        Assert.Equal(PeErrorKind.InvalidSbat, Assert.Throws<PeException>(() => new UkiBuilder(files.Stub).AddSbat("component-without-generation")).Kind);
        Assert.Equal(PeErrorKind.InvalidSbat, Assert.Throws<PeException>(() => new UkiBuilder(files.Stub).AddSbat("c,zero,v")).Kind);
        Assert.Equal(PeErrorKind.Unsupported, Assert.Throws<PeException>(() => new UkiBuilder(files.Stub).Add(".linux", B(1, 2, 3)).Build()).Kind);
        // All addon sections at once are fine.
        var addon = new UkiBuilder(files.AddonStub, UkiKind.Addon).AddText(".cmdline", "x").Add(".dtb", B(1)).Add(".ucode", B(2)).Add(".initrd", B(3)).Build();
        Assert.Equal([".text", ".sdmagic", ".cmdline", ".dtb", ".initrd", ".ucode", ".sbat"], PeFile.Parse(addon).Sections.Select(s => s.Name));
    }

    [Fact]
    public void ReadsTheKernelReleaseFromTheBootHeader()
    {
        var files = TrixieBootFiles.Get();
        var expected = Path.GetFileName(files.KernelPath)["vmlinuz-".Length..];
        Assert.Equal(expected, LinuxKernelImage.TryReadRelease(files.Kernel));
        Assert.Null(LinuxKernelImage.TryReadRelease(files.Stub));
    }

    [Fact]
    public void ThePlacementOrderIsUkifys()
    {
        Assert.Equal([".osrel", ".cmdline", ".dtb", ".dtbauto", ".hwids", ".uname", ".splash", ".pcrsig", ".pcrpkey", ".initrd", ".ucode", ".linux", ".sbat"],
            UkiLayout.Sections.Select(s => s.Name));
        Assert.Equal([".cmdline", ".dtb", ".initrd", ".ucode", ".sbat"], UkiLayout.AddonSections);
        Assert.Equal(0, UkiLayout.Find(".linux")!.MeasurementOrder);
        Assert.Equal(-1, UkiLayout.Find(".pcrsig")!.MeasurementOrder);
        var builder = new UkiBuilder(new byte[1]).Add(".linux", B(1)).Add(".myextra", B(1)).Add(".initrd", B(1)).Add(".cmdline", B(1)).Add(".another", B(1)).Add(".ucode", B(1));
        Assert.Equal([".cmdline", ".initrd", ".ucode", ".myextra", ".another", ".linux"], builder.PlannedOrder);
    }
}
