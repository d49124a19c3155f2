namespace Initrd.Formats.Ar;

/// <summary>
/// The Unix ar archive format as dpkg writes and reads it (deb(5), ar(5); the common System V / GNU format).
/// </summary>
/// <remarks>
/// An archive is the 8-byte <see cref="Magic"/> followed by members. Each member is a 60-byte header of fixed-width,
/// space-padded ASCII fields — name (16), modification time (12, decimal seconds), owner (6, decimal), group
/// (6, decimal), mode (8, octal), size (10, decimal) and the 2-byte <see cref="Terminator"/> — then
/// <c>size</c> bytes of data, then one padding byte (<c>'\n'</c>) when <c>size</c> is odd, so every header starts
/// at an even offset. GNU ar ends short names with '/', calls its symbol table "/" (or "/SYM64/") and its table of
/// long names "//", and refers to a long name as "/&lt;offset into that table&gt;"; BSD ar stores a long name as
/// "#1/&lt;length&gt;" followed by the name at the start of the data.
/// </remarks>
public static class ArLayout
{
    /// <summary>The global header every archive starts with: <c>"!&lt;arch&gt;\n"</c>.</summary>
    public static ReadOnlySpan<byte> Magic => "!<arch>\n"u8;

    /// <summary>The magic of a GNU thin archive, whose members live in other files (not readable here).</summary>
    public static ReadOnlySpan<byte> ThinMagic => "!<thin>\n"u8;

    public const int MagicLength = 8;

    public const int NameLength = 16;
    public const int ModificationTimeLength = 12;
    public const int UidLength = 6;
    public const int GidLength = 6;
    public const int ModeLength = 8;
    public const int SizeLength = 10;
    public const int TerminatorLength = 2;

    public const int NameOffset = 0;
    public const int ModificationTimeOffset = NameOffset + NameLength;
    public const int UidOffset = ModificationTimeOffset + ModificationTimeLength;
    public const int GidOffset = UidOffset + UidLength;
    public const int ModeOffset = GidOffset + GidLength;
    public const int SizeOffset = ModeOffset + ModeLength;
    public const int TerminatorOffset = SizeOffset + SizeLength;

    /// <summary>60 bytes.</summary>
    public const int HeaderLength = TerminatorOffset + TerminatorLength;

    /// <summary>The two bytes that end every member header: a backquote and a newline.</summary>
    public static ReadOnlySpan<byte> Terminator => "`\n"u8;

    /// <summary>Member data is padded to a multiple of this, counted from the start of the archive.</summary>
    public const int Alignment = 2;

    /// <summary>The byte that pads odd-sized member data.</summary>
    public const byte PaddingByte = (byte)'\n';

    /// <summary>GNU symbol table names (skipped when reading).</summary>
    public const string GnuSymbolTableName = "/";
    public const string GnuSymbolTable64Name = "/SYM64/";

    /// <summary>GNU table of long member names.</summary>
    public const string GnuLongNameTableName = "//";

    /// <summary>Prefix of a BSD long name: "#1/" followed by the decimal length of the name stored at the start of the data.</summary>
    public const string BsdLongNamePrefix = "#1/";
}
