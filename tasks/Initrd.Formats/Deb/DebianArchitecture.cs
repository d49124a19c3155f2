using System.Collections.Frozen;

namespace Initrd.Formats.Deb;

/// <summary>
/// Debian architecture names and wildcards (Debian Policy §11.1, dpkg-architecture(1)), enough to
/// evaluate architecture restriction lists the way dpkg-dev does (Dpkg::Arch debarch_is and
/// debarch_is_concerned). An architecture name stands for a tuple abi-libc-os-cpu (dpkg's tupletable
/// and cputable); a wildcard is a tuple in which some parts are "any" ("linux-any", "any-amd64").
/// </summary>
public static class DebianArchitecture
{
    // dpkg's data/cputable, column 1.
    static readonly string[] Cpus =
    [
        "i386", "ia64", "alpha", "amd64", "arc", "armeb", "arm", "arm64", "avr32", "hppa", "loongarch64",
        "m32r", "m68k", "mips", "mipsel", "mipsr6", "mipsr6el", "mips64", "mips64el", "mips64r6",
        "mips64r6el", "nios2", "or1k", "powerpc", "powerpcel", "ppc64", "ppc64el", "riscv64", "s390",
        "s390x", "sh3", "sh3eb", "sh4", "sh4eb", "sparc", "sparc64", "tilegx",
    ];

    // dpkg's data/tupletable: tuple, architecture name; "<cpu>" stands for every CPU above, and for
    // those rows the first one to produce a name wins; rows without "<cpu>" always apply.
    static readonly (string Tuple, string Name)[] Tuples =
    [
        ("eabi-uclibc-linux-arm", "uclibc-linux-armel"),
        ("base-uclibc-linux-<cpu>", "uclibc-linux-<cpu>"),
        ("eabihf-musl-linux-arm", "musl-linux-armhf"),
        ("base-musl-linux-<cpu>", "musl-linux-<cpu>"),
        ("ilp32-gnu-linux-arm64", "arm64ilp32"),
        ("eabihf-gnu-linux-arm", "armhf"),
        ("eabi-gnu-linux-arm", "armel"),
        ("abin32-gnu-linux-mips64r6el", "mipsn32r6el"),
        ("abin32-gnu-linux-mips64r6", "mipsn32r6"),
        ("abin32-gnu-linux-mips64el", "mipsn32el"),
        ("abin32-gnu-linux-mips64", "mipsn32"),
        ("abi64-gnu-linux-mips64r6el", "mips64r6el"),
        ("abi64-gnu-linux-mips64r6", "mips64r6"),
        ("abi64-gnu-linux-mips64el", "mips64el"),
        ("abi64-gnu-linux-mips64", "mips64"),
        ("spe-gnu-linux-powerpc", "powerpcspe"),
        ("x32-gnu-linux-amd64", "x32"),
        ("base-gnu-linux-<cpu>", "<cpu>"),
        ("eabihf-gnu-kfreebsd-arm", "kfreebsd-armhf"),
        ("base-gnu-kfreebsd-<cpu>", "kfreebsd-<cpu>"),
        ("base-gnu-knetbsd-<cpu>", "knetbsd-<cpu>"),
        ("base-gnu-kopensolaris-<cpu>", "kopensolaris-<cpu>"),
        ("base-gnu-hurd-<cpu>", "hurd-<cpu>"),
        ("base-bsd-dragonflybsd-<cpu>", "dragonflybsd-<cpu>"),
        ("base-bsd-freebsd-<cpu>", "freebsd-<cpu>"),
        ("base-bsd-openbsd-<cpu>", "openbsd-<cpu>"),
        ("base-bsd-netbsd-<cpu>", "netbsd-<cpu>"),
        ("base-bsd-darwin-<cpu>", "darwin-<cpu>"),
        ("base-sysv-aix-<cpu>", "aix-<cpu>"),
        ("base-sysv-solaris-<cpu>", "solaris-<cpu>"),
        ("eabi-uclibc-uclinux-arm", "uclinux-armel"),
        ("base-uclibc-uclinux-<cpu>", "uclinux-<cpu>"),
        ("base-gnu-linux-loongarch64", "loongarch64"),
        ("base-tos-mint-m68k", "mint-m68k"),
    ];

    static readonly FrozenDictionary<string, string[]> TupleOf = BuildTupleMap();

    static FrozenDictionary<string, string[]> BuildTupleMap()
    {
        var map = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var tuples = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (tuple, name) in Tuples)
        {
            if (!tuple.Contains("<cpu>"))
            {
                map[name] = tuple.Split('-');
                tuples.Add(tuple);
                continue;
            }
            foreach (var cpu in Cpus)
            {
                var t = tuple.Replace("<cpu>", cpu);
                var n = name.Replace("<cpu>", cpu);
                if (map.ContainsKey(n) || !tuples.Add(t)) continue;
                map[n] = t.Split('-');
            }
        }
        return map.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>
    /// The tuple (abi, libc, os, cpu) of an architecture name, or null when dpkg does not know it.
    /// The obsolete "linux-&lt;arch&gt;" spelling is read as "&lt;arch&gt;", as dpkg-dev does.
    /// </summary>
    public static IReadOnlyList<string>? ToTuple(string architecture)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        if (architecture.StartsWith("linux-", StringComparison.Ordinal))
        {
            var rest = architecture.AsSpan(6);
            int dash = rest.IndexOf('-');
            architecture = new string(dash < 0 ? rest : rest[..dash]);
        }
        return TupleOf.GetValueOrDefault(architecture);
    }

    /// <summary>Whether a name is a wildcard: "any", or a name with an "any" part ("linux-any", "any-arm64").</summary>
    public static bool IsWildcard(string name) => name.Split('-').Contains("any");

    /// <summary>
    /// dpkg-dev's debarch_is: whether the concrete <paramref name="architecture"/> is named by
    /// <paramref name="nameOrWildcard"/> (the same name, "any", or a wildcard matching its tuple).
    /// </summary>
    public static bool Matches(string architecture, string nameOrWildcard)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        ArgumentNullException.ThrowIfNull(nameOrWildcard);
        if (architecture == nameOrWildcard || nameOrWildcard == "any") return true;
        var real = ToTuple(architecture);
        var alias = WildcardTuple(nameOrWildcard);
        if (real is null || alias is null) return false;
        for (int i = 0; i < 4; i++)
            if (alias[i] != "any" && alias[i] != real[i]) return false;
        return true;
    }

    // debwildcard_to_debtuple: a wildcard of n parts fills the missing leading parts with "any".
    static IReadOnlyList<string>? WildcardTuple(string wildcard)
    {
        var parts = wildcard.Split('-', 4);
        if (!parts.Contains("any")) return ToTuple(wildcard);
        return parts.Length switch
        {
            4 => parts,
            3 => ["any", .. parts],
            2 => ["any", "any", .. parts],
            _ => ["any", "any", "any", "any"],
        };
    }

    /// <summary>
    /// dpkg-dev's debarch_is_concerned: whether a restriction list such as <c>[amd64 arm64]</c> or
    /// <c>[!hurd-any !kfreebsd-any]</c> includes <paramref name="architecture"/>. A positive term that
    /// matches includes it; a negated term that matches excludes it; otherwise a list containing a
    /// negated term includes everything else. An empty list includes every architecture.
    /// </summary>
    public static bool IsConcerned(string architecture, IReadOnlyList<RestrictionTerm> restriction)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        if (restriction.Count == 0) return true;
        bool seen = false;
        foreach (var term in restriction)
        {
            bool matches = Matches(architecture, term.Name.ToLowerInvariant());
            if (term.Negated)
            {
                if (matches) return false;
                seen = true;
            }
            else if (matches)
            {
                return true;
            }
        }
        return seen;
    }

    /// <summary>dpkg's dpkg_arch_name_is_illegal: a letter or digit, then letters, digits and '-'.</summary>
    public static bool IsValidName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || !char.IsAsciiLetterOrDigit(name[0])) return false;
        foreach (var c in name)
            if (!char.IsAsciiLetterOrDigit(c) && c != '-') return false;
        return true;
    }
}
