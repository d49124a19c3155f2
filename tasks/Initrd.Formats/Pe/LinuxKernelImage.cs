using System.Buffers.Binary;
using System.Text;

namespace Initrd.Formats.Pe;

/// <summary>
/// Reads the kernel release (what <c>uname -r</c> prints, for the <c>.uname</c> section) from an x86 bzImage, through
/// the real-mode kernel header of the Linux x86 boot protocol (Documentation/arch/x86/boot.rst).
/// </summary>
public static class LinuxKernelImage
{
    /// <summary>Offset of the boot protocol's header signature, "HdrS".</summary>
    public const int HeaderSignatureOffset = 0x202;

    /// <summary>The boot protocol's header signature.</summary>
    public static ReadOnlySpan<byte> HeaderSignature => "HdrS"u8;

    /// <summary>Offset of <c>kernel_version</c>: a 2-byte pointer to a NUL-terminated version string, minus 0x200.</summary>
    public const int KernelVersionOffset = 0x20E;

    /// <summary>The base <c>kernel_version</c> is relative to.</summary>
    public const int KernelVersionBase = 0x200;

    const int MaxVersionLength = 512;

    /// <summary>How many bytes from the start of the image <see cref="TryReadRelease"/> may look at.</summary>
    public const int ReleaseReadLength = KernelVersionBase + ushort.MaxValue + MaxVersionLength;

    /// <summary>
    /// The release ("6.12.107+deb13-amd64") from the version string ("6.12.107+deb13-amd64 (debian-kernel@…) #1 SMP …"),
    /// or null when the image is not an x86 bzImage with a version string.
    /// </summary>
    public static string? TryReadRelease(ReadOnlySpan<byte> kernel)
    {
        if (kernel.Length < KernelVersionOffset + 2
            || !kernel.Slice(HeaderSignatureOffset, HeaderSignature.Length).SequenceEqual(HeaderSignature))
            return null;
        var pointer = BinaryPrimitives.ReadUInt16LittleEndian(kernel[KernelVersionOffset..]);
        if (pointer == 0) return null;
        var start = KernelVersionBase + pointer;
        if (start >= kernel.Length) return null;
        var text = kernel[start..Math.Min(kernel.Length, start + MaxVersionLength)];
        var end = text.IndexOf((byte)0);
        if (end < 0) return null;
        text = text[..end];
        var space = text.IndexOf((byte)' ');
        var release = space < 0 ? text : text[..space];
        if (release.Length == 0 || release.IndexOfAnyExceptInRange((byte)0x21, (byte)0x7E) >= 0) return null;
        return Encoding.ASCII.GetString(release);
    }
}
