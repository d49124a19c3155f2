namespace Initrd.Formats.Cpio;

/// <summary>Options of <see cref="CpioArchiveWriter.Write"/>.</summary>
public sealed record CpioWriteOptions
{
    /// <summary>
    /// SOURCE_DATE_EPOCH semantics: when set, every entry's mtime is <c>min(entry mtime, SourceDateEpoch)</c>,
    /// so files newer than the build's reference time get that time and older ones keep theirs.
    /// Null keeps every entry's own mtime.
    /// </summary>
    public long? SourceDateEpoch { get; init; }

    /// <summary>
    /// Write the TRAILER!!! entry at the end (default). Turn off only to append further entries to the same
    /// stream yourself; the kernel also accepts several complete archives concatenated.
    /// </summary>
    public bool WriteTrailer { get; init; } = true;
}

/// <summary>What <see cref="CpioArchiveWriter.Write"/> wrote.</summary>
/// <param name="EntryCount">Entries written, the trailer not counted.</param>
/// <param name="BytesWritten">Length of the archive in bytes, trailer and padding included.</param>
/// <param name="ContentBytes">Bytes of regular-file content and symlink targets (data without padding).</param>
public sealed record CpioWriteSummary(int EntryCount, long BytesWritten, long ContentBytes);
