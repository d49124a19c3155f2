using System.Globalization;

namespace Initrd.Sdk.Tasks.Common;

/// <summary>
/// An expected failure with a coded message from Strings.resx ("INITRDnnnn: …"), optionally naming
/// the file or item it is about. Thrown by tasks; turned into an MSBuild error by <see cref="InitrdTask"/>.
/// </summary>
public sealed class BuildErrorException : Exception
{
    public BuildErrorException(string format, params object?[] args)
        : base(string.Format(CultureInfo.CurrentCulture, format, args)) { }

    public BuildErrorException(Exception inner, string? file, string format, params object?[] args)
        : base(string.Format(CultureInfo.CurrentCulture, format, args), inner)
    {
        File = file;
    }

    /// <summary>The file the error is about (shown by MSBuild and IDEs as the error location).</summary>
    public string? File { get; init; }
}
