namespace Initrd.Image.Extension;

/// <summary>Why an extension image cannot be made; each kind maps to one coded build error.</summary>
public enum ExtensionErrorKind
{
    /// <summary>The extension name is not a valid image name, or does not match the image file name.</summary>
    NameMismatch,

    /// <summary>The tree holds an extension-release file for another name.</summary>
    ForeignReleaseFile,

    /// <summary>An extension-release field name or value is malformed.</summary>
    InvalidReleaseField,

    /// <summary>The file system writer (mkfs.erofs, mksquashfs) is missing or failed.</summary>
    FileSystemFailed,

    /// <summary>An entry of the tree cannot be put into the file system.</summary>
    UnsupportedEntry,
}

/// <summary>An extension image cannot be made; the message names the cause and what to do.</summary>
public sealed class ExtensionException(ExtensionErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public ExtensionErrorKind Kind { get; } = kind;
}
