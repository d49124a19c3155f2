using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Initrd.Formats.Compression;

/// <summary>
/// P/Invoke surface of the system's <c>libzstd.so.1</c> (zstd ≥ 1.4.0; Debian package libzstd1). Only the stable
/// (non-experimental) API of zstd.h is used, so any 1.4/1.5 library works. Enum values are those of zstd.h 1.5.x.
/// </summary>
internal static unsafe partial class ZstdNative
{
    public const string LibraryName = "libzstd.so.1";
    public const string DebianPackage = "libzstd1";

    /// <summary>ZSTD_cParameter (zstd.h). Only the values this project sets.</summary>
    public enum CParameter
    {
        CompressionLevel = 100, // ZSTD_c_compressionLevel
        ChecksumFlag = 201,     // ZSTD_c_checksumFlag
        NbWorkers = 400,        // ZSTD_c_nbWorkers
    }

    /// <summary>ZSTD_EndDirective (zstd.h).</summary>
    public enum EndDirective
    {
        Continue = 0, // ZSTD_e_continue
        Flush = 1,    // ZSTD_e_flush
        End = 2,      // ZSTD_e_end
    }

    /// <summary>ZSTD_ErrorCode values (zstd_errors.h) this project tells apart.</summary>
    public const int ErrorMemoryAllocation = 64; // ZSTD_error_memory_allocation

    /// <summary>ZSTD_inBuffer: { const void* src; size_t size; size_t pos; }.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct InBuffer
    {
        public byte* Source;
        public nuint Size;
        public nuint Position;
    }

    /// <summary>ZSTD_outBuffer: { void* dst; size_t size; size_t pos; }.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct OutBuffer
    {
        public byte* Destination;
        public nuint Size;
        public nuint Position;
    }

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_versionNumber")]
    public static partial uint VersionNumber();

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_minCLevel")]
    public static partial int MinCLevel();

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_maxCLevel")]
    public static partial int MaxCLevel();

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_isError")]
    public static partial uint IsError(nuint code);

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_getErrorCode")]
    public static partial int GetErrorCode(nuint code);

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_getErrorName")]
    public static partial nint GetErrorName(nuint code);

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_createCCtx")]
    public static partial ZstdCompressionContextHandle CreateCCtx();

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_freeCCtx")]
    public static partial nuint FreeCCtx(nint cctx);

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_CCtx_setParameter")]
    public static partial nuint CCtxSetParameter(ZstdCompressionContextHandle cctx, CParameter parameter, int value);

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_compressStream2")]
    public static partial nuint CompressStream2(ZstdCompressionContextHandle cctx, OutBuffer* output, InBuffer* input, EndDirective endOp);

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_CStreamInSize")]
    public static partial nuint CStreamInSize();

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_CStreamOutSize")]
    public static partial nuint CStreamOutSize();

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_createDCtx")]
    public static partial ZstdDecompressionContextHandle CreateDCtx();

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_freeDCtx")]
    public static partial nuint FreeDCtx(nint dctx);

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_decompressStream")]
    public static partial nuint DecompressStream(ZstdDecompressionContextHandle dctx, OutBuffer* output, InBuffer* input);

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_DStreamInSize")]
    public static partial nuint DStreamInSize();

    [LibraryImport(LibraryName, EntryPoint = "ZSTD_DStreamOutSize")]
    public static partial nuint DStreamOutSize();

    /// <summary>Lowest library version whose streaming API (ZSTD_compressStream2, nbWorkers) this project relies on.</summary>
    const uint MinimumVersion = 1_04_00; // 1.4.0

    static volatile bool s_available;

    /// <summary>
    /// Throws a <see cref="DllNotFoundException"/> that names the library and its Debian package when libzstd
    /// cannot be loaded or is too old; call before the first use.
    /// </summary>
    public static void EnsureAvailable()
    {
        if (s_available) return;
        uint version;
        try
        {
            version = VersionNumber();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw new DllNotFoundException(
                $"The Zstandard library {LibraryName} could not be loaded ({e.Message}). " +
                $"Install the Debian package {DebianPackage} (apt-get install {DebianPackage}).", e);
        }
        if (version < MinimumVersion)
            throw new DllNotFoundException(
                $"The Zstandard library {LibraryName} is version {version / 10000}.{version / 100 % 100}.{version % 100}; " +
                $"1.4.0 or later is required. Upgrade the Debian package {DebianPackage}.");
        s_available = true;
    }

    public static bool Failed(nuint code) => IsError(code) != 0;

    public static string ErrorName(nuint code) => Marshal.PtrToStringUTF8(GetErrorName(code)) ?? $"zstd error {GetErrorCode(code)}";

    /// <summary>Throws for a failed call that does not depend on the input data (parameters, allocation, internal state).</summary>
    public static void ThrowIfFailed(nuint code, string function)
    {
        if (!Failed(code)) return;
        var message = $"{function} failed: {ErrorName(code)}";
        if (GetErrorCode(code) == ErrorMemoryAllocation) throw new InsufficientMemoryException(message);
        throw new IOException($"Zstandard: {message}");
    }
}

/// <summary>Owns a ZSTD_CCtx*; frees it with ZSTD_freeCCtx.</summary>
internal sealed class ZstdCompressionContextHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public ZstdCompressionContextHandle() : base(ownsHandle: true) { }

    protected override bool ReleaseHandle()
    {
        ZstdNative.FreeCCtx(handle);
        return true;
    }
}

/// <summary>Owns a ZSTD_DCtx*; frees it with ZSTD_freeDCtx.</summary>
internal sealed class ZstdDecompressionContextHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public ZstdDecompressionContextHandle() : base(ownsHandle: true) { }

    protected override bool ReleaseHandle()
    {
        ZstdNative.FreeDCtx(handle);
        return true;
    }
}
