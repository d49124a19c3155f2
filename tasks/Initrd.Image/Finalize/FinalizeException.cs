namespace Initrd.Image.Finalize;

/// <summary>What went wrong while finalizing an image; the MSBuild layer maps each kind to one INITRDxxxx code.</summary>
public enum FinalizeErrorKind
{
    /// <summary>An image path is empty, contains "..", a NUL or a newline.</summary>
    InvalidPath,
    /// <summary>A new entry would replace a directory, or its parent is not a directory.</summary>
    PathConflict,
    /// <summary>Following symlinks inside the image did not end (more than 40 links in a row).</summary>
    SymlinkLoop,
    /// <summary>The install manifest is inconsistent (duplicate paths, a hard link to a missing file).</summary>
    InvalidManifest,
    /// <summary>An ImageRemove pattern cannot be parsed.</summary>
    InvalidGlob,
    /// <summary>An ImageFile's host file does not exist.</summary>
    ImageFileNotFound,
    /// <summary>An ImageFile's image path goes through a symlink that points out of the image tree.</summary>
    ImageFileOutsideImage,
    /// <summary>An ImageFile would replace a directory (or a parent of its path is a file).</summary>
    ImageFileConflict,
    /// <summary>Two ImageFile items name the same image path.</summary>
    ImageFileDuplicate,
    /// <summary>/bin, /sbin, /lib or /lib64 is a real directory with content (or something else that is not the /usr link).</summary>
    MergedUsrConflict,
    /// <summary>Neither /etc/os-release nor /usr/lib/os-release exists, so /etc/initrd-release cannot be made.</summary>
    OsReleaseMissing,
    /// <summary>An extra os-release field has an invalid name or value.</summary>
    InvalidOsReleaseField,
    /// <summary>An initrd needs /usr/lib/systemd/systemd for /init, and the tree has none.</summary>
    SystemdMissing,
    /// <summary>sysusers.d asks for more system users/groups than the UID/GID range holds.</summary>
    AccountIdsExhausted,
}

/// <summary>
/// The one exception type of the finalize stage. <see cref="Exception.Message"/> says what is wrong and what to do;
/// <see cref="Kind"/> and <see cref="Location"/> let the MSBuild task choose the error code and the file to blame.
/// </summary>
public sealed class FinalizeException : Exception
{
    public FinalizeException(FinalizeErrorKind kind, string? location, string message, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Location = location;
    }

    public FinalizeErrorKind Kind { get; }

    /// <summary>The host file (an ImageFile item) or image path ("/etc/os-release") the error concerns, when known.</summary>
    public string? Location { get; }
}

/// <summary>What a finalize warning is about; the MSBuild layer maps each kind to one INITRDxxxx warning code.</summary>
public enum FinalizeWarningKind
{
    /// <summary>An ImageRemove pattern matched nothing in the tree.</summary>
    RemoveMatchedNothing,
    /// <summary>A sysusers.d line was ignored (syntax error, unsupported specifier, or a conflict with an earlier line).</summary>
    SysusersLineIgnored,
    /// <summary>A sysusers.d user or group could not be created (e.g. its named group does not exist).</summary>
    SysusersItemFailed,
    /// <summary>Neither base-passwd's master files nor any sysusers.d file is in the tree: no /etc/passwd was written.</summary>
    NoAccounts,
    /// <summary>No native /etc/ld.so.cache writer for the architecture: ldconfig.service was masked instead.</summary>
    LdSoCacheMasked,
    /// <summary>A systemd preset line or [Install] value was not applied (systemctl skips it too, with a message).</summary>
    PresetSkipped,
}

/// <summary>A problem worth telling the user about that does not stop the build.</summary>
public sealed record FinalizeWarning(FinalizeWarningKind Kind, string? Location, string Message)
{
    public override string ToString() => Location is null ? Message : $"{Location}: {Message}";
}
