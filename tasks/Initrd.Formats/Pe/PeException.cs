namespace Initrd.Formats.Pe;

/// <summary>Why a well-formed PE input is refused; the MSBuild layer maps each kind to one INITRDxxxx code.</summary>
public enum PeErrorKind
{
    /// <summary>The image is not a PE32+ image (e.g. a PE32 image for ia32), or not for an EFI subsystem.</summary>
    Unsupported,
    /// <summary>The stub already carries an attribute certificate table (it is signed); sections cannot be added.</summary>
    StubSigned,
    /// <summary>The image to sign already carries a certificate table.</summary>
    AlreadySigned,
    /// <summary>The stub has bytes after its last section (an unstripped symbol table, an overlay) that would become unsigned gaps.</summary>
    StubTrailingData,
    /// <summary>A section name is empty, longer than 8 bytes, or not printable ASCII.</summary>
    InvalidSectionName,
    /// <summary>A section's content is empty.</summary>
    EmptySection,
    /// <summary>A section is given twice, or the stub already has it and it is not one that may be replaced.</summary>
    DuplicateSection,
    /// <summary>A section may not appear in this kind of image (e.g. <c>.linux</c> in an addon), or a required one is missing.</summary>
    SectionNotAllowed,
    /// <summary>The new section headers do not fit before the first section, even after growing the header area.</summary>
    HeaderRoomExhausted,
    /// <summary>A replaced stub section (<c>.sbat</c>) outgrows the room before the next section in memory.</summary>
    SectionTooLarge,
    /// <summary>The image would exceed the 4 GiB the PE32+ 32-bit sizes and addresses can describe.</summary>
    ImageTooLarge,
    /// <summary>An SBAT line is malformed.</summary>
    InvalidSbat,
}

/// <summary>
/// A PE input is well formed but cannot be used as asked (a signed stub, a 9-byte section name, no room for the
/// section headers, an image over 4 GiB…). <see cref="Exception.Message"/> says what is wrong and what to do;
/// <see cref="Kind"/> lets the MSBuild layer choose the error code and <see cref="Section"/> names the section
/// concerned, when there is one. Malformed input throws <see cref="InvalidDataException"/> instead.
/// </summary>
public sealed class PeException : Exception
{
    public PeException(PeErrorKind kind, string message, string? section = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Section = section;
    }

    public PeErrorKind Kind { get; }

    /// <summary>The section the error is about (".cmdline"), or null.</summary>
    public string? Section { get; }
}
