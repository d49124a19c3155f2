namespace Initrd.Formats.Pe;

/// <summary>
/// Sees an image while <see cref="PeSectionAppender.WriteTo"/> writes it, so that a digest can be taken in the same
/// pass instead of reading the file again: first its headers (final but for <c>CheckSum</c>, which is still 0), then
/// every byte of the file once, in file order. Called on the writing thread, while the output write of the same
/// bytes may still be running on another one.
/// </summary>
public interface IPeImageObserver
{
    void Headers(PeFile headers);

    /// <summary><paramref name="data"/> sits at <paramref name="fileOffset"/>; it is only valid during the call.</summary>
    void Data(ReadOnlySpan<byte> data, long fileOffset);
}
