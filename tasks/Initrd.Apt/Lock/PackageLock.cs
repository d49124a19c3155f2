using System.Security.Cryptography;
using Initrd.Formats.Common;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Initrd.Apt.Lock;

/// <summary>
/// packages.lock.json: the resolved package set of an image, in the spirit of NuGet's lock file
/// (a format version, the hash of the inputs it was resolved from, and every package pinned by
/// version and content hash). Written deterministically: same set, same bytes.
/// </summary>
public sealed record PackageLock
{
    public const int CurrentFormatVersion = 1;

    public int Version { get; init; } = CurrentFormatVersion;

    /// <summary>"sha256:…" over the resolution inputs (packages requested, release, repositories, policy).</summary>
    public required string InputsHash { get; init; }

    public required string Distribution { get; init; }

    public required string Release { get; init; }

    public required string Architecture { get; init; }

    /// <summary>Packages sorted by name, then architecture.</summary>
    public required IReadOnlyList<LockedPackage> Packages { get; init; }

    /// <summary>A hash of the pinned package set alone (names, versions, hashes): keys the install-tree cache.</summary>
    public string PackageSetHash()
    {
        var sb = new StringBuilder();
        foreach (var p in Packages)
            sb.Append(p.Name).Append(' ').Append(p.Architecture).Append(' ').Append(p.Version).Append(' ').Append(p.Sha256).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    public static string HashInputs(IEnumerable<string> lines)
    {
        var sb = new StringBuilder();
        foreach (var line in lines) sb.Append(line).Append('\n');
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    /// <remarks>Relaxed escaping keeps Debian versions readable ("1.2+b1", not "1.2\u002Bb1"); the file is never embedded in HTML.</remarks>
    public byte[] ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, IndentSize = 2, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteNumber("version", Version);
            w.WriteString("inputsHash", InputsHash);
            w.WriteString("distribution", Distribution);
            w.WriteString("release", Release);
            w.WriteString("architecture", Architecture);
            w.WriteStartObject("packages");
            foreach (var p in Packages.OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Architecture, StringComparer.Ordinal))
            {
                w.WriteStartObject(Key(p));
                w.WriteString("type", p.Type);
                w.WriteString("version", p.Version);
                w.WriteString("architecture", p.Architecture);
                w.WriteString("repository", p.Repository);
                w.WriteString("origin", p.Origin);
                w.WriteString("path", p.Path);
                w.WriteNumber("size", p.Size);
                w.WriteString("sha256", p.Sha256);
                if (p.Dependencies.Count > 0)
                {
                    w.WriteStartArray("dependencies");
                    foreach (var d in p.Dependencies) w.WriteStringValue(d);
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>The JSON key of a package: its name, or name:arch when the name is locked for several architectures.</summary>
    string Key(LockedPackage p) =>
        Packages.Count(q => q.Name == p.Name) > 1 ? $"{p.Name}:{p.Architecture}" : p.Name;

    /// <summary>
    /// Writes the lock atomically (temp file, flushed to disk, then renamed) and only when the bytes differ. Returns
    /// true when written.
    /// </summary>
    public bool WriteIfChanged(string path)
    {
        var bytes = ToJson();
        if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes)) return false;
        StagedOutput.Write(path, tmp =>
        {
            using var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write);
            file.Write(bytes);
            file.Flush(flushToDisk: true);
        });
        return true;
    }

    /// <summary>Reads a lock file; a malformed file throws <see cref="InvalidDataException"/> naming what is wrong.</summary>
    public static PackageLock Read(string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            var version = RequireInt(root, "version", path);
            if (version != CurrentFormatVersion)
                throw new InvalidDataException($"{path}: lock format version {version} is not supported (this SDK reads version {CurrentFormatVersion})");
            var packages = new List<LockedPackage>();
            if (!root.TryGetProperty("packages", out var pkgs) || pkgs.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: missing object 'packages'");
            foreach (var prop in pkgs.EnumerateObject())
            {
                var e = prop.Value;
                var where = $"{path}: package '{prop.Name}'";
                var name = prop.Name.Split(':')[0];
                var deps = new List<string>();
                if (e.TryGetProperty("dependencies", out var d) && d.ValueKind == JsonValueKind.Array)
                    deps.AddRange(d.EnumerateArray().Select(x => x.GetString() ?? ""));
                var sha = RequireString(e, "sha256", where);
                if (sha.Length != 64 || !sha.All(Uri.IsHexDigit))
                    throw new InvalidDataException($"{where}: 'sha256' is not a SHA-256 hex digest: '{sha}'");
                packages.Add(new LockedPackage
                {
                    Name = name,
                    Type = RequireString(e, "type", where),
                    Version = RequireString(e, "version", where),
                    Architecture = RequireString(e, "architecture", where),
                    Repository = RequireString(e, "repository", where),
                    Origin = RequireString(e, "origin", where),
                    Path = RequireString(e, "path", where),
                    Size = RequireLong(e, "size", where),
                    Sha256 = sha.ToLowerInvariant(),
                    Dependencies = deps,
                });
            }
            return new PackageLock
            {
                Version = version,
                InputsHash = RequireString(root, "inputsHash", path),
                Distribution = RequireString(root, "distribution", path),
                Release = RequireString(root, "release", path),
                Architecture = RequireString(root, "architecture", path),
                Packages = packages.OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Architecture, StringComparer.Ordinal).ToList(),
            };
        }
    }

    static string RequireString(JsonElement e, string name, string where) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
            : throw new InvalidDataException($"{where}: missing string '{name}'");

    static int RequireInt(JsonElement e, string name, string where) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i
            : throw new InvalidDataException($"{where}: missing number '{name}'");

    static long RequireLong(JsonElement e, string name, string where) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var i) ? i
            : throw new InvalidDataException($"{where}: missing number '{name}'");
}
