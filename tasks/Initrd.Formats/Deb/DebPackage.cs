using System.Formats.Tar;
using System.Text;
using Initrd.Formats.Ar;
using Initrd.Formats.Compression;

namespace Initrd.Formats.Deb;

/// <summary>
/// A Debian binary package (.deb, deb(5)) read as a stream, without temporary files: an ar archive whose first
/// member is <c>debian-binary</c> ("2.0\n"), then <c>control.tar[.gz|.xz|.zst]</c>, then
/// <c>data.tar[.gz|.xz|.zst]</c>; members whose names start with '_' are skipped, as dpkg does.
/// <para>
/// <see cref="Open(Stream, bool, string?)"/> reads up to the data member's header: the control files are held in
/// memory (at most <see cref="MaxControlLength"/> bytes), the data archive is then streamed once through
/// <see cref="OpenDataTar"/> or <see cref="OpenDataStream"/>. A stream that is not seekable (a download) works.
/// Structural problems — not an ar archive, wrong or missing members, unsupported compression, truncation — throw
/// <see cref="InvalidDataException"/>.
/// </para>
/// </summary>
public sealed class DebPackage : IDisposable
{
    /// <summary>Upper bound on the decompressed control archive (control, md5sums, maintainer scripts, …).</summary>
    public const long MaxControlLength = 64L << 20;

    const string DebianBinaryName = "debian-binary";
    const string ControlTarName = "control.tar";
    const string DataTarName = "data.tar";
    const int MaxDebianBinaryLength = 1024;

    readonly ArArchive _archive;
    readonly ArEntry _dataMember;
    readonly Dictionary<string, byte[]> _controlFiles;
    readonly string? _sourceName;
    bool _dataOpened;
    bool _disposed;

    DebPackage(ArArchive archive, string? sourceName, string formatVersion, ArEntry controlMember, CompressionFormat controlCompression,
        Dictionary<string, byte[]> controlFiles, ArEntry dataMember, CompressionFormat dataCompression)
    {
        _archive = archive;
        _sourceName = sourceName;
        FormatVersion = formatVersion;
        ControlMemberName = controlMember.Name;
        ControlCompression = controlCompression;
        _controlFiles = controlFiles;
        _dataMember = dataMember;
        DataMemberName = dataMember.Name;
        DataCompression = dataCompression;
    }

    /// <summary>
    /// Reads the package structure and the control archive from <paramref name="stream"/>, leaving it positioned
    /// at the data archive. <paramref name="sourceName"/> (a file name) prefixes error messages.
    /// </summary>
    public static DebPackage Open(Stream stream, bool leaveOpen = false, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArArchive? archive = null;
        try
        {
            archive = new ArArchive(stream, leaveOpen);
            var formatVersion = ReadDebianBinary(archive);

            var controlMember = NextPackageMember(archive, ControlTarName, after: DebianBinaryName);
            var controlCompression = MemberCompression(controlMember, ControlTarName);
            var controlFiles = ReadControlArchive(controlMember, controlCompression);

            var dataMember = NextPackageMember(archive, DataTarName, after: controlMember.Name);
            var dataCompression = MemberCompression(dataMember, DataTarName);

            return new DebPackage(archive, sourceName, formatVersion, controlMember, controlCompression, controlFiles, dataMember, dataCompression);
        }
        catch (Exception e)
        {
            archive?.Dispose();
            if (archive is null && !leaveOpen) stream.Dispose();
            if (e is InvalidDataException && sourceName is not null)
                throw new InvalidDataException($"{sourceName}: {e.Message}", e);
            throw;
        }
    }

    /// <summary>Opens a .deb file; the package owns the file until disposed.</summary>
    public static DebPackage Open(string path)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.SequentialScan);
        return Open(file, leaveOpen: false, sourceName: path);
    }

    /// <summary>The first line of <c>debian-binary</c>: "2.0".</summary>
    public string FormatVersion { get; }

    /// <summary>The control member's name, e.g. "control.tar.xz".</summary>
    public string ControlMemberName { get; }

    public CompressionFormat ControlCompression { get; }

    /// <summary>The data member's name, e.g. "data.tar.xz".</summary>
    public string DataMemberName { get; }

    public CompressionFormat DataCompression { get; }

    /// <summary>Length of the compressed data member in bytes.</summary>
    public long DataMemberLength => _dataMember.Length;

    /// <summary>The regular files of the control archive, by name without "./" ("control", "md5sums", "postinst", …).</summary>
    public IReadOnlyCollection<string> ControlFileNames => _controlFiles.Keys;

    /// <summary>The content of a control-archive file ("control" or "./control"); false when the package has none.</summary>
    public bool TryGetControlFile(string name, out ReadOnlyMemory<byte> content)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_controlFiles.TryGetValue(NormalizeName(name), out var bytes))
        {
            content = bytes;
            return true;
        }
        content = default;
        return false;
    }

    /// <summary>A control-archive file as UTF-8 text ("control", "./conffiles", …), or null when the package has none.</summary>
    public string? ReadControlFile(string name) =>
        TryGetControlFile(name, out var content) ? Encoding.UTF8.GetString(content.Span) : null;

    /// <summary>The package's <c>control</c> file (present in every valid package; checked by Open).</summary>
    public string Control => ReadControlFile("control")!;

    /// <summary>
    /// The decompressed data archive (a tar stream), readable once and forward only. It verifies the compressed
    /// stream's checksum when read to its end.
    /// </summary>
    public Stream OpenDataStream()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_dataOpened) throw new InvalidOperationException($"The data archive of {_sourceName ?? "this package"} has already been opened; it can be read only once.");
        _dataOpened = true;
        return CompressionStreams.OpenRead(_dataMember.DataStream, DataCompression);
    }

    /// <summary>
    /// A <see cref="TarReader"/> over the decompressed data archive, streaming (entries' data streams are valid until
    /// the next entry), readable once. Entry names are as stored ("./usr/bin/…").
    /// </summary>
    public TarReader OpenDataTar() => new(OpenDataStream(), leaveOpen: false);

    public void Dispose()
    {
        _disposed = true;
        _archive.Dispose();
    }

    static string ReadDebianBinary(ArArchive archive)
    {
        var member = archive.GetNextEntry()
            ?? throw new InvalidDataException($"Not a Debian package: the ar archive has no members (expected '{DebianBinaryName}' first).");
        if (member.Name != DebianBinaryName)
            throw new InvalidDataException(
                $"Not a Debian package: ar member #{member.Index} at offset {member.HeaderOffset} is '{member.Name}', expected '{DebianBinaryName}' first.");
        if (member.Length > MaxDebianBinaryLength)
            throw new InvalidDataException(
                $"Not a Debian package: member '{DebianBinaryName}' at offset {member.HeaderOffset} is {member.Length} bytes long, expected \"2.0\\n\".");
        var content = new byte[member.Length];
        member.DataStream.ReadExactly(content);

        // deb(5): the first line is the format version; a larger minor number and further lines are to be ignored,
        // a different major number means an incompatible format.
        var newline = Array.IndexOf(content, (byte)'\n');
        var line = newline < 0 ? content : content.AsSpan(0, newline);
        if (newline < 0 || line.Length < 3 || line[0] != (byte)'2' || line[1] != (byte)'.' || !IsDigits(line[2..]))
            throw new InvalidDataException(
                $"Unsupported Debian package format: member '{DebianBinaryName}' (data at offset {member.DataOffset}) is {ArArchive.Quote(content)}, expected \"2.0\\n\".");
        return Encoding.ASCII.GetString(line);
    }

    /// <summary>The next member that is not a local ('_') addition; it must be <paramref name="baseName"/>[.suffix].</summary>
    static ArEntry NextPackageMember(ArArchive archive, string baseName, string after)
    {
        while (true)
        {
            var member = archive.GetNextEntry()
                ?? throw new InvalidDataException(
                    $"Not a complete Debian package: the ar archive ends at offset {archive.Position} after '{after}', without a '{baseName}[.gz|.xz|.zst]' member.");
            if (member.Name.StartsWith('_')) continue;
            if (member.Name.StartsWith(baseName, StringComparison.Ordinal)) return member;
            throw new InvalidDataException(
                $"Not a valid Debian package: ar member #{member.Index} at offset {member.HeaderOffset} is '{member.Name}', " +
                $"expected '{baseName}[.gz|.xz|.zst]' after '{after}'.");
        }
    }

    static CompressionFormat MemberCompression(ArEntry member, string baseName)
    {
        var suffix = member.Name[baseName.Length..];
        CompressionFormat? format = suffix switch
        {
            "" => CompressionFormat.None,
            ".gz" => CompressionFormat.Gzip,
            ".xz" => CompressionFormat.Xz,
            ".zst" => CompressionFormat.Zstd,
            _ => null,
        };
        if (format is null)
            throw new InvalidDataException(suffix.StartsWith('.')
                ? $"Unsupported Debian package: ar member #{member.Index} '{member.Name}' at offset {member.HeaderOffset} " +
                  $"uses compression '{suffix[1..]}'; supported are none, gz, xz and zst."
                : $"Not a valid Debian package: ar member #{member.Index} at offset {member.HeaderOffset} is '{member.Name}', " +
                  $"expected '{baseName}[.gz|.xz|.zst]'.");
        return format.Value;
    }

    static Dictionary<string, byte[]> ReadControlArchive(ArEntry member, CompressionFormat compression)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var where = $"member '{member.Name}' (data at offset {member.DataOffset})";
        try
        {
            using var decompressed = new LimitedReadStream(CompressionStreams.OpenRead(member.DataStream, compression), MaxControlLength, where);
            using (var tar = new TarReader(decompressed, leaveOpen: true))
            {
                while (tar.GetNextEntry(copyData: false) is { } entry)
                {
                    var name = NormalizeName(entry.Name);
                    if (name.Length == 0) continue; // "./"
                    if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile)) continue;
                    if (files.ContainsKey(name))
                        throw new InvalidDataException($"The control archive ({where}) contains '{name}' twice.");
                    if (entry.Length > MaxControlLength - decompressed.Position)
                        throw new InvalidDataException(
                            $"The control archive ({where}) holds '{name}' of {entry.Length} bytes, more than the {MaxControlLength} bytes accepted.");
                    var content = new byte[entry.Length];
                    entry.DataStream?.ReadExactly(content);
                    files.Add(name, content);
                }
            }
            // Read to the end so that the compressed stream's checksum is verified.
            decompressed.CopyTo(Stream.Null);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"The control archive ({where}) is truncated: {e.Message}", e);
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            // TarReader reports some malformed header fields this way.
            throw new InvalidDataException($"The control archive ({where}) is invalid: {e.Message}", e);
        }
        catch (InvalidDataException e) when (!e.Message.Contains(where, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"The control archive ({where}) is invalid: {e.Message}", e);
        }
        if (!files.ContainsKey("control"))
            throw new InvalidDataException($"Not a valid Debian package: the control archive ({where}) has no 'control' file.");
        return files;
    }

    static string NormalizeName(string name)
    {
        if (name.StartsWith("./", StringComparison.Ordinal)) name = name[2..];
        return name.Trim('/');
    }

    static bool IsDigits(ReadOnlySpan<byte> text)
    {
        foreach (var c in text)
            if (c is < (byte)'0' or > (byte)'9') return false;
        return !text.IsEmpty;
    }

    /// <summary>Reads through to an inner stream, throwing once more than a set number of bytes has been read.</summary>
    sealed class LimitedReadStream(Stream inner, long limit, string where) : Stream
    {
        long _read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count)
        {
            ValidateBufferArguments(buffer, offset, count);
            return Read(buffer.AsSpan(offset, count));
        }

        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            _read += n;
            if (_read > limit)
                throw new InvalidDataException($"The control archive ({where}) decompresses to more than the {limit} bytes accepted.");
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
