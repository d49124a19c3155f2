namespace Initrd.Sdk.Tasks.Common;

/// <summary>Splits a resource message "INITRDnnnn: text" into its code and text.</summary>
public static class DiagnosticMessage
{
    public const string Prefix = "INITRD";
    const int CodeLength = 10; // "INITRD" + 4 digits

    public static (string? Code, string Text) Split(string message)
    {
        if (message.Length > CodeLength + 1 && message.StartsWith(Prefix, StringComparison.Ordinal)
            && message[CodeLength] == ':' && message.AsSpan(Prefix.Length, 4).ContainsAnyExceptInRange('0', '9') == false)
        {
            return (message[..CodeLength], message[(CodeLength + 1)..].TrimStart());
        }
        return (null, message);
    }
}
