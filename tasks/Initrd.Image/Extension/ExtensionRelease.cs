using System.Text;
using Initrd.Image.Finalize;

namespace Initrd.Image.Extension;

/// <summary>
/// What goes into an extension-release file, each value either given (a project property) or taken from the base
/// image's os-release. Null or empty: not given.
/// </summary>
public sealed record ExtensionReleaseSettings
{
    public required ExtensionKind Kind { get; init; }

    /// <summary>The extension's name: the file is <c>extension-release.&lt;Name&gt;</c>.</summary>
    public required string Name { get; init; }

    /// <summary><c>ID=</c>: the OS the extension is for; "_any" for every OS.</summary>
    public string? Id { get; init; }

    /// <summary><c>VERSION_ID=</c> of that OS.</summary>
    public string? VersionId { get; init; }

    /// <summary><c>SYSEXT_LEVEL=</c> / <c>CONFEXT_LEVEL=</c>: an API level of the OS, matched instead of VERSION_ID.</summary>
    public string? Level { get; init; }

    /// <summary><c>ARCHITECTURE=</c> in systemd's names (x86-64, arm64, …).</summary>
    public string? Architecture { get; init; }

    /// <summary><c>SYSEXT_ID=</c> / <c>CONFEXT_ID=</c>: the extension's own identity.</summary>
    public string? ImageId { get; init; }

    /// <summary><c>SYSEXT_VERSION_ID=</c> / <c>CONFEXT_VERSION_ID=</c>: the extension's own version.</summary>
    public string? ImageVersion { get; init; }

    /// <summary><c>SYSEXT_SCOPE=</c> / <c>CONFEXT_SCOPE=</c>: space-separated "initrd", "system", "portable".</summary>
    public string? Scope { get; init; }

    /// <summary><c>EXTENSION_RELOAD_MANAGER=1</c>: systemd reloads its units after merging.</summary>
    public bool ReloadManager { get; init; }
}

/// <summary>
/// The extension-release file (os-release(5) syntax) systemd reads to decide whether an extension fits the running
/// OS, and the rule tying its name to the image file name.
/// </summary>
public static class ExtensionRelease
{
    /// <summary>
    /// Fills the settings' gaps from the base image's os-release (<paramref name="baseOsRelease"/>, may be null):
    /// <c>ID</c>, and the base's <c>SYSEXT_LEVEL</c>/<c>CONFEXT_LEVEL</c> or else its <c>VERSION_ID</c> — but a level
    /// or version given in the settings wins, and a given level suppresses the base's VERSION_ID.
    /// Without a base and without a given ID, <paramref name="fallbackId"/> is used.
    /// </summary>
    public static ExtensionReleaseSettings WithBase(ExtensionReleaseSettings settings, IReadOnlyDictionary<string, string>? baseOsRelease, string fallbackId)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var prefix = ExtensionKinds.FieldPrefix(settings.Kind);
        string? Base(string key) => baseOsRelease is not null && baseOsRelease.TryGetValue(key, out var v) && v.Length > 0 ? v : null;
        var id = Given(settings.Id) ?? Base("ID") ?? fallbackId;
        var level = Given(settings.Level);
        var version = Given(settings.VersionId);
        if (level is null && version is null)
        {
            level = Base(prefix + "LEVEL");
            if (level is null) version = Base("VERSION_ID");
        }
        return settings with { Id = id, Level = level, VersionId = version };
    }

    /// <summary>The fields in the order they are written.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Fields(ExtensionReleaseSettings s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var prefix = ExtensionKinds.FieldPrefix(s.Kind);
        var fields = new List<KeyValuePair<string, string>>();
        void Add(string key, string? value)
        {
            if (Given(value) is not { } v) return;
            if (v.IndexOfAny(['\n', '\r', '\0']) >= 0)
                throw new ExtensionException(ExtensionErrorKind.InvalidReleaseField, $"The extension-release value for {key} contains a line break or NUL character.");
            fields.Add(new(key, v));
        }
        Add("ID", s.Id);
        Add("VERSION_ID", s.VersionId);
        Add(prefix + "LEVEL", s.Level);
        Add("ARCHITECTURE", s.Architecture);
        Add(prefix + "ID", s.ImageId);
        Add(prefix + "VERSION_ID", s.ImageVersion);
        Add(prefix + "SCOPE", s.Scope);
        if (s.ReloadManager) Add("EXTENSION_RELOAD_MANAGER", "1");
        return fields;
    }

    /// <summary>The file's text: one <c>KEY=value</c> line per field, values quoted where os-release(5) needs it.</summary>
    public static string Format(IEnumerable<KeyValuePair<string, string>> fields)
    {
        var sb = new StringBuilder();
        foreach (var (key, value) in fields) sb.Append(InitrdRelease.Edit("", [new(key, value)]));
        return sb.ToString();
    }

    /// <summary>
    /// The extension name systemd derives from an image file name: the suffix <c>.sysext.raw</c>, <c>.confext.raw</c>
    /// or <c>.raw</c> is cut off, then everything from the first '_' or '+' (a version or boot-counting suffix), as
    /// systemd 256 and later do. (systemd 255 and older cut off only <c>.raw</c>: there, name the file
    /// <c>&lt;name&gt;.raw</c>.)
    /// </summary>
    public static string NameFromFileName(string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        var name = Path.GetFileName(fileName);
        foreach (var suffix in (string[])[".sysext.raw", ".confext.raw", ".raw"])
            if (name.EndsWith(suffix, StringComparison.Ordinal)) { name = name[..^suffix.Length]; break; }
        var cut = name.IndexOfAny(['_', '+']);
        return cut < 0 ? name : name[..cut];
    }

    /// <summary>systemd's image_name_is_valid(): a file name that is safe, not hidden, at most 255 bytes.</summary>
    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= 255 && name != "." && name != ".." && name[0] != '.'
        && name.All(c => c >= 0x20 && c != 0x7F && c is not ('/' or '\\' or '"' or '\''));

    /// <summary>
    /// The extension name for an image file: <paramref name="given"/> when set (it must equal what systemd derives
    /// from the file name), else the derived name.
    /// </summary>
    /// <exception cref="ExtensionException"><see cref="ExtensionErrorKind.NameMismatch"/>.</exception>
    public static string ResolveName(string? given, string imageFileName)
    {
        var derived = NameFromFileName(imageFileName);
        var name = Given(given) ?? derived;
        if (!IsValidName(name))
            throw new ExtensionException(ExtensionErrorKind.NameMismatch,
                $"'{name}' is not a valid extension name (derived from the image file name '{Path.GetFileName(imageFileName)}'): use a name without '/', quotes or control characters that does not start with '.'.");
        if (!string.Equals(name, derived, StringComparison.Ordinal))
            throw new ExtensionException(ExtensionErrorKind.NameMismatch,
                $"The extension name '{name}' does not match the image file name '{Path.GetFileName(imageFileName)}', from which systemd derives the name '{derived}' and then looks for extension-release.{derived}. Set ExtensionName to '{derived}', or TargetName to '{name}'.");
        return name;
    }

    static string? Given(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
