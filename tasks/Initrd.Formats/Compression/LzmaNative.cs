using System.Runtime.InteropServices;

namespace Initrd.Formats.Compression;

/// <summary>
/// P/Invoke surface of the system's <c>liblzma.so.5</c> (XZ Utils 5.x; Debian package liblzma5). Layouts and values
/// are those of lzma/base.h and lzma/container.h, which have been ABI-stable since 5.0.
/// </summary>
internal static unsafe partial class LzmaNative
{
    public const string LibraryName = "liblzma.so.5";
    public const string DebianPackage = "liblzma5";

    /// <summary>lzma_ret (lzma/base.h).</summary>
    public enum Ret
    {
        Ok = 0,
        StreamEnd = 1,
        NoCheck = 2,
        UnsupportedCheck = 3,
        GetCheck = 4,
        MemError = 5,
        MemlimitError = 6,
        FormatError = 7,
        OptionsError = 8,
        DataError = 9,
        BufError = 10,
        ProgError = 11,
        SeekNeeded = 12,
    }

    /// <summary>lzma_action (lzma/base.h).</summary>
    public enum Action
    {
        Run = 0,
        SyncFlush = 1,
        FullFlush = 2,
        Finish = 3,
        FullBarrier = 4,
    }

    /// <summary>lzma_check (lzma/check.h).</summary>
    public enum Check
    {
        None = 0,
        Crc32 = 1,
        Crc64 = 4,
        Sha256 = 10,
    }

    /// <summary>Decoder flag LZMA_CONCATENATED (lzma/container.h): decode concatenated .xz streams as one.</summary>
    public const uint Concatenated = 0x08;

    /// <summary>Preset flag LZMA_PRESET_EXTREME (lzma/container.h).</summary>
    public const uint PresetExtreme = 1u << 31;

    /// <summary>
    /// lzma_stream (lzma/base.h), laid out for LP64 (x86-64, arm64): six in/out fields, the allocator and internal
    /// pointers, four reserved pointers, two uint64_t, two size_t and two enums — 136 bytes. It is allocated in
    /// native memory (<see cref="LzmaStreamHandle"/>) and must be zero-initialised (LZMA_STREAM_INIT) before use.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LzmaStream
    {
        public byte* NextIn;
        public nuint AvailIn;
        public ulong TotalIn;
        public byte* NextOut;
        public nuint AvailOut;
        public ulong TotalOut;
        public void* Allocator;
        public void* Internal;
        public void* ReservedPtr1;
        public void* ReservedPtr2;
        public void* ReservedPtr3;
        public void* ReservedPtr4;
        public ulong SeekPos;
        public ulong ReservedInt2;
        public nuint ReservedInt3;
        public nuint ReservedInt4;
        public int ReservedEnum1;
        public int ReservedEnum2;
    }

    [LibraryImport(LibraryName, EntryPoint = "lzma_version_number")]
    public static partial uint VersionNumber();

    [LibraryImport(LibraryName, EntryPoint = "lzma_easy_encoder")]
    public static partial Ret EasyEncoder(LzmaStreamHandle stream, uint preset, Check check);

    [LibraryImport(LibraryName, EntryPoint = "lzma_stream_decoder")]
    public static partial Ret StreamDecoder(LzmaStreamHandle stream, ulong memlimit, uint flags);

    [LibraryImport(LibraryName, EntryPoint = "lzma_code")]
    public static partial Ret Code(LzmaStreamHandle stream, Action action);

    /// <summary>
    /// One lzma_code call over pinned spans; the stream's buffer pointers are cleared afterwards (liblzma keeps no
    /// pointer into them between calls, so nothing dangles once they are unpinned).
    /// </summary>
    public static unsafe Ret Code(LzmaStreamHandle stream, ReadOnlySpan<byte> input, Span<byte> output, Action action,
        out int consumed, out int produced)
    {
        Ret ret;
        fixed (byte* inPtr = input)
        fixed (byte* outPtr = output)
        {
            var s = stream.Stream;
            s->NextIn = inPtr;
            s->AvailIn = (nuint)input.Length;
            s->NextOut = outPtr;
            s->AvailOut = (nuint)output.Length;
            ret = Code(stream, action);
            consumed = input.Length - (int)s->AvailIn;
            produced = output.Length - (int)s->AvailOut;
            s->NextIn = null;
            s->AvailIn = 0;
            s->NextOut = null;
            s->AvailOut = 0;
        }
        return ret;
    }

    [LibraryImport(LibraryName, EntryPoint = "lzma_end")]
    public static partial void End(LzmaStream* stream);

    static volatile bool s_available;

    /// <summary>
    /// Throws a <see cref="DllNotFoundException"/> that names the library and its Debian package when liblzma
    /// cannot be loaded; call before the first use.
    /// </summary>
    public static void EnsureAvailable()
    {
        if (s_available) return;
        try
        {
            VersionNumber();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw new DllNotFoundException(
                $"The XZ library {LibraryName} could not be loaded ({e.Message}). " +
                $"Install the Debian package {DebianPackage} (apt-get install {DebianPackage}).", e);
        }
        s_available = true;
    }

    /// <summary>The lzma_ret constant's name and what it means, for messages.</summary>
    public static string Describe(Ret ret) => ret switch
    {
        Ret.Ok => "LZMA_OK",
        Ret.StreamEnd => "LZMA_STREAM_END",
        Ret.MemError => "LZMA_MEM_ERROR (cannot allocate memory)",
        Ret.MemlimitError => "LZMA_MEMLIMIT_ERROR (memory usage limit reached)",
        Ret.FormatError => "LZMA_FORMAT_ERROR (file format not recognized)",
        Ret.OptionsError => "LZMA_OPTIONS_ERROR (unsupported options)",
        Ret.DataError => "LZMA_DATA_ERROR (compressed data is corrupt)",
        Ret.BufError => "LZMA_BUF_ERROR (unexpected end of input)",
        Ret.ProgError => "LZMA_PROG_ERROR (programming error)",
        _ => $"lzma_ret {(int)ret}",
    };
}

/// <summary>
/// Owns a zero-initialised <see cref="LzmaNative.LzmaStream"/> in native memory (so liblzma may keep pointers into
/// it across calls and the GC never moves it); release runs lzma_end and frees the memory.
/// </summary>
internal sealed unsafe class LzmaStreamHandle : SafeHandle
{
    public LzmaStreamHandle() : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle((nint)NativeMemory.AllocZeroed((nuint)sizeof(LzmaNative.LzmaStream)));
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>The native struct. Valid while the handle is open; callers use it only between their own calls.</summary>
    public LzmaNative.LzmaStream* Stream => (LzmaNative.LzmaStream*)handle;

    protected override bool ReleaseHandle()
    {
        var stream = (LzmaNative.LzmaStream*)handle;
        if (stream->Internal != null) LzmaNative.End(stream);
        NativeMemory.Free(stream);
        return true;
    }
}
