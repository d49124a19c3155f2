namespace Initrd.Formats.Deb;

/// <summary>
/// One field of a deb822 paragraph: its name as written, its value and the 1-based line it starts on.
/// A multi-line value keeps its continuation lines as written (leading blank included, " ." for an
/// empty line), joined with '\n'; the first line and the end of the value are trimmed of blanks.
/// </summary>
public readonly record struct Deb822Field(string Name, string Value, int LineNumber)
{
    public override string ToString() => Value.StartsWith('\n') ? $"{Name}:{Value}" : $"{Name}: {Value}";
}
