using System.Text;
using Initrd.Formats.Common;

namespace Initrd.Formats.Pe;

/// <summary>What <see cref="UkiBuilder"/> makes.</summary>
public enum UkiKind
{
    /// <summary>A Unified Kernel Image: systemd-stub's linuxx64.efi.stub with <c>.linux</c> and friends.</summary>
    Uki,
    /// <summary>A PE addon: systemd-stub's addonx64.efi.stub with <c>.cmdline</c> (and/or <c>.dtb .ucode .initrd</c>) and <c>.sbat</c>.</summary>
    Addon,
}

/// <summary>
/// Assembles a Unified Kernel Image or a PE addon from systemd-stub and named sections (see <see cref="UkiLayout"/>
/// for names, order and which belong in an addon). Deterministic: the same stub and sections give the same bytes.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Sections are placed in <see cref="UkiLayout"/>'s order whatever order they are added in; extra sections
/// (names the layout does not know) go before <c>.linux</c> in the order added. Known sections other than
/// <c>.dtb</c>/<c>.dtbauto</c> may be given once.</item>
/// <item><c>.linux</c> is the whole kernel file (an EFI-stub PE32+ image, signed or not), in a code section whose
/// VirtualSize is the kernel's SizeOfImage (as ukify sets it), or the file length if that is larger.</item>
/// <item><c>.sbat</c> is always written: the stub's entries, then the kernel's (from the kernel's own <c>.sbat</c>,
/// if it has one), then the caller's (<see cref="AddSbat"/>; <see cref="UkiLayout.DefaultUkiSbatEntry"/> or
/// <see cref="UkiLayout.DefaultAddonSbatEntry"/> when the caller gives none), under one header line
/// (<see cref="Sbat.Merge"/>). It replaces the stub's <c>.sbat</c> in place, or is appended when the stub has none
/// (systemd 257's addon stub).</item>
/// </list>
/// </remarks>
public sealed class UkiBuilder
{
    readonly ReadOnlyMemory<byte> _stub;
    readonly List<(string Name, ByteSource Content)> _sections = [];
    readonly List<IReadOnlyList<string>> _sbat = [];

    /// <param name="stub">The unsigned systemd-stub image: linuxx64.efi.stub for a UKI, addonx64.efi.stub for an addon.</param>
    /// <param name="kind">What to build.</param>
    /// <param name="stubName">Names the stub in messages.</param>
    public UkiBuilder(ReadOnlyMemory<byte> stub, UkiKind kind = UkiKind.Uki, string? stubName = null)
    {
        _stub = stub;
        Kind = kind;
        StubName = stubName ?? (kind == UkiKind.Uki ? "the UKI stub" : "the addon stub");
    }

    public UkiKind Kind { get; }

    public string StubName { get; }

    /// <summary>
    /// Adds a section (its bytes are used as they are, read when the image is written; the caller disposes the
    /// source afterwards). A <c>.sbat</c> given here is merged like <see cref="AddSbat"/>.
    /// </summary>
    public UkiBuilder Add(string name, ByteSource content)
    {
        PeSectionAppender.CheckName(name);
        if (name == UkiLayout.Sbat)
            return AddSbat(Encoding.ASCII.GetString(content.ToArray()));
        if (name == UkiLayout.Profile)
            throw new PeException(PeErrorKind.SectionNotAllowed,
                "Multi-profile UKIs (.profile sections) are not supported; build one UKI per profile.", name);
        var known = UkiLayout.Find(name);
        if (Kind == UkiKind.Addon && known is not { AllowedInAddon: true })
            throw new PeException(PeErrorKind.SectionNotAllowed,
                $"An addon may not carry {name}; it may carry only {string.Join(" ", UkiLayout.AddonSections)} " +
                "(UKI specification, PE Addons). Put it in the UKI instead.", name);
        if (content.Length == 0)
            throw new PeException(PeErrorKind.EmptySection, $"Section {name} is empty; leave it out instead.", name);
        if ((known?.Singleton ?? true) && _sections.Any(s => s.Name == name))
            throw new PeException(PeErrorKind.DuplicateSection,
                $"Section {name} is given twice; it may appear once in a {(Kind == UkiKind.Uki ? "UKI" : "PE addon")} (only .dtb and .dtbauto may repeat). " +
                (name == UkiLayout.Initrd ? "Concatenate the initrds into one .initrd (each cpio padded to 4 bytes)." : "Give it once."), name);
        _sections.Add((name, content));
        return this;
    }

    /// <summary>Adds a text section, encoded as UTF-8 without a terminating NUL (as ukify writes them).</summary>
    public UkiBuilder AddText(string name, string text) => Add(name, Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Adds SBAT entries of the image itself (CSV lines; a "sbat,1,…" header line among them is dropped, it is written
    /// once by the merge). May be called more than once; the entries keep their order.
    /// </summary>
    public UkiBuilder AddSbat(string csv)
    {
        _sbat.Add(Sbat.ParseEntries(csv, $"SBAT item {_sbat.Count + 1}"));
        return this;
    }

    /// <summary>The sections in the order they will be written after the stub's own, <c>.sbat</c> excluded.</summary>
    public IReadOnlyList<string> PlannedOrder =>
        [.. _sections.Select((s, i) => (s.Name, i)).OrderBy(s => UkiLayout.PlacementRank(s.Name)).ThenBy(s => s.i).Select(s => s.Name)];

    /// <summary>Checks the section set, merges <c>.sbat</c> and writes the image into a new array.</summary>
    public byte[] Build()
    {
        using var image = new MemoryStream();
        WriteTo(image);
        return image.ToArray();
    }

    /// <summary>
    /// Checks the section set, merges <c>.sbat</c> and writes the image to <paramref name="output"/> (writable and
    /// seekable), reading the sections' sources in pieces (see <see cref="PeSectionAppender.WriteTo"/>). Returns the
    /// headers of the image written.
    /// </summary>
    public PeFile WriteTo(Stream output, IPeImageObserver? observer = null)
    {
        var appender = new PeSectionAppender(_stub, StubName);
        if (appender.Stub.Subsystem != PeLayout.SubsystemEfiApplication)
            throw new PeException(PeErrorKind.Unsupported,
                $"{StubName} has Subsystem {appender.Stub.Subsystem}, not an EFI application ({PeLayout.SubsystemEfiApplication}); use systemd-stub.");

        var kernel = _sections.FirstOrDefault(s => s.Name == UkiLayout.Linux);
        if (Kind == UkiKind.Uki && kernel.Name is null)
            throw new PeException(PeErrorKind.SectionNotAllowed, "A UKI needs a .linux section (the kernel); add the kernel image.", UkiLayout.Linux);
        if (Kind == UkiKind.Addon && !_sections.Any(s => UkiLayout.AddonPayloadSections.Contains(s.Name)))
            throw new PeException(PeErrorKind.SectionNotAllowed,
                $"An addon needs at least one of {string.Join(" ", UkiLayout.AddonPayloadSections)}; add a command line, for example.", UkiLayout.Cmdline);

        // .sbat: stub's, kernel's, ours.
        var sbatSources = new List<IReadOnlyList<string>> { Sbat.ReadEntries(_stub, appender.Stub, StubName) };
        PeFile? kernelHeaders = null;
        if (kernel.Name is not null)
        {
            kernelHeaders = ReadKernel(kernel.Content);
            sbatSources.Add(Sbat.ReadEntries(kernel.Content, kernelHeaders, "the kernel"));
        }
        sbatSources.AddRange(_sbat.Count > 0
            ? _sbat
            : [[Kind == UkiKind.Uki ? UkiLayout.DefaultUkiSbatEntry : UkiLayout.DefaultAddonSbatEntry]]);
        var sbat = Sbat.Merge(sbatSources);

        foreach (var (name, content) in _sections.Select((s, i) => (s, i)).OrderBy(x => UkiLayout.PlacementRank(x.s.Name)).ThenBy(x => x.i).Select(x => x.s))
        {
            if (name == UkiLayout.Linux)
            {
                var virtualSize = Math.Max(kernelHeaders!.SizeOfImage, (uint)content.Length);
                appender.Add(name, content, virtualSize, PeSectionAppender.CodeCharacteristics);
            }
            else
            {
                appender.Add(name, content, repeatable: !(UkiLayout.Find(name)?.Singleton ?? true));
            }
        }
        if (appender.Stub.FindSection(UkiLayout.Sbat) is not null) appender.Replace(UkiLayout.Sbat, sbat);
        else appender.Add(UkiLayout.Sbat, sbat);
        return appender.WriteTo(output, observer);
    }

    static PeFile ReadKernel(ByteSource kernel)
    {
        var head = kernel.ReadHead(PeFile.MaxHeaderLength);
        if (!PeFile.LooksLikePe(head))
            throw new PeException(PeErrorKind.Unsupported,
                "The .linux section must be an EFI-stub kernel (a PE image starting with \"MZ\", such as Debian's /boot/vmlinuz-*); " +
                "this one is not. systemd-stub loads the kernel as a PE image.", UkiLayout.Linux);
        try
        {
            return PeFile.Parse(head, kernel.Length);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"The kernel given as .linux is not a valid PE image: {e.Message}", e);
        }
    }
}
