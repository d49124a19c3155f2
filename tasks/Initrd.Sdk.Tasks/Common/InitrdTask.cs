using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Initrd.Sdk.Tasks.Common;

/// <summary>
/// Base of every Initrd.Sdk task. A task implements <see cref="ExecuteCore"/> and reports expected
/// failures by throwing <see cref="BuildErrorException"/> with a message from Strings.resx; the base
/// turns it into an MSBuild error carrying the INITRD code and the offending file. Unexpected
/// exceptions are not caught: a crash (MSB4018) is a bug to fix, not something to hide.
/// </summary>
public abstract class InitrdTask : Microsoft.Build.Utilities.Task
{
    protected InitrdTask() : base(Strings.ResourceManager) { }

    public sealed override bool Execute()
    {
        try
        {
            ExecuteCore();
        }
        catch (BuildErrorException e)
        {
            LogCoded(e.Message, e.File, warning: false);
        }
        return !Log.HasLoggedErrors;
    }

    protected abstract void ExecuteCore();

    /// <summary>Logs a resource message of the form "INITRDnnnn: text" as a coded warning.</summary>
    protected void LogWarning(string format, params object?[] args) =>
        LogCoded(string.Format(System.Globalization.CultureInfo.CurrentCulture, format, args), file: null, warning: true);

    protected void LogWarningForFile(string? file, string format, params object?[] args) =>
        LogCoded(string.Format(System.Globalization.CultureInfo.CurrentCulture, format, args), file, warning: true);

    /// <summary>Logs a coded error without stopping the task (for reporting several problems at once).</summary>
    protected void LogError(string? file, string format, params object?[] args) =>
        LogCoded(string.Format(System.Globalization.CultureInfo.CurrentCulture, format, args), file, warning: false);

    /// <summary>Logs an already formatted coded error without stopping the task.</summary>
    protected void LogError(BuildErrorException e) => LogCoded(e.Message, e.File, warning: false);

    protected void LogInfo(MessageImportance importance, string message) => Log.LogMessage(importance, message);

    void LogCoded(string message, string? file, bool warning)
    {
        var (code, text) = DiagnosticMessage.Split(message);
        if (warning)
            Log.LogWarning(subcategory: null, code, helpKeyword: null, file, 0, 0, 0, 0, text);
        else
            Log.LogError(subcategory: null, code, helpKeyword: null, file, 0, 0, 0, 0, text);
    }

    /// <summary>
    /// A full path. The targets pass absolute paths; a relative one (a task called directly) is taken relative to
    /// the current directory, which MSBuild sets to the project's folder while a task runs.
    /// </summary>
    protected static string FullPath(string path) => Path.GetFullPath(path.Replace('\\', '/'));

    /// <summary>The SourceDateEpoch property: seconds since 1970, or null when empty; anything else is INITRD5002.</summary>
    protected static long? ParseSourceDateEpoch(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        return long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var epoch)
            ? epoch : throw new BuildErrorException(Strings.InvalidSourceDateEpoch, text);
    }
}
