using System.Formats.Tar;
using static Initrd.Sdk.Tests.LocalRepository.TestEntry;

namespace Initrd.Sdk.Tests.LocalRepository;

/// <summary>
/// The hand-made universe the SDK tests resolve against. Requesting <c>systemd</c> gives exactly
/// <see cref="SystemdClosure"/>, which exercises: Pre-Depends (libzstd1), versioned Depends (=, &gt;=), an
/// alternative whose first choice wins (mawk | gawk), a virtual package (dbus-system-bus, provided by dbus-broker),
/// a dependency loop (systemd ↔ dbus-broker), an Architecture: all package listed in binary-amd64 (systemd-data),
/// Conflicts on a package that does not exist, Essential base-files with merged-/usr symlinks and os-release.
/// Beside it: an unsatisfiable chain, a conflicting pair, a pure loop, and names for hostile packages.
/// </summary>
public static class TestPackages
{
    public static readonly string[] SystemdClosure =
        ["base-files", "dbus-broker", "libc6", "libsystemd-shared", "libzstd1", "mawk", "systemd", "systemd-data"];

    /// <summary>Files of the closure the image must hold (image paths, no leading '/').</summary>
    public static readonly string[] SystemdClosureFiles =
    [
        "usr/lib/systemd/systemd", "usr/bin/systemctl", "usr/lib/os-release", "usr/bin/mawk", "usr/bin/dbus-broker",
        "usr/lib/x86_64-linux-gnu/libc-fake.txt", "usr/lib/x86_64-linux-gnu/zstd-fake.txt",
        "usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-257.txt", "usr/lib/sysusers.d/basic.conf",
    ];

    static TestPackage P(string name, string version, string arch, (string, string)[] fields, params TestEntry[] entries) =>
        new(name, version, arch) { Fields = fields, Entries = entries };

    public static IReadOnlyList<TestPackage> Standard { get; } =
    [
        P("base-files", "13.8", "amd64", [("Essential", "yes"), ("Priority", "required")],
            Directory("etc"), Directory("usr"), Directory("usr/bin"), Directory("usr/sbin"), Directory("usr/lib"), Directory("usr/lib64"),
            Symlink("bin", "usr/bin"), Symlink("sbin", "usr/sbin"), Symlink("lib", "usr/lib"), Symlink("lib64", "usr/lib64"),
            File("usr/lib/os-release", "PRETTY_NAME=\"Initrd.Sdk Test Linux\"\nNAME=\"Initrd.Sdk Test Linux\"\nID=initrdtest\nVERSION_ID=1\n"),
            Symlink("etc/os-release", "../usr/lib/os-release")),
        P("libc6", "2.41-1", "amd64", [("Multi-Arch", "same"), ("Priority", "optional")],
            File("usr/lib/x86_64-linux-gnu/libc-fake.txt", "not really libc\n")),
        P("libzstd1", "1.5.7+dfsg-1", "amd64", [("Multi-Arch", "same"), ("Pre-Depends", "libc6 (>= 2.34)")],
            File("usr/lib/x86_64-linux-gnu/zstd-fake.txt", "not really zstd\n")),
        P("libsystemd-shared", "257-1", "amd64", [("Depends", "libc6 (>= 2.38), libzstd1 (>= 1.5.5)")],
            File("usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-257.txt", "shared code\n")),
        P("systemd-data", "257-1", "all", [("Multi-Arch", "foreign")],
            File("usr/lib/sysusers.d/basic.conf", "g root 0\nu root 0 \"Super User\" /root /bin/sh\ng tty 5\ng disk 6\ng kmem 15\n")),
        P("systemd", "257-1", "amd64",
            [
                ("Pre-Depends", "libzstd1 (>= 1.5.5)"),
                ("Depends", "libsystemd-shared (= 257-1), systemd-data (= 257-1), base-files, mawk | gawk, dbus-system-bus"),
                ("Conflicts", "systemd-shim"),
                ("Provides", "systemd-sysusers (= 257-1)"),
            ],
            Executable("usr/lib/systemd/systemd", "#!/bin/sh\necho 'not really systemd'\n"),
            Executable("usr/bin/systemctl", "#!/bin/sh\nexit 0\n")),
        P("mawk", "1.3.4.20250131-1", "amd64", [("Depends", "libc6 (>= 2.38)"), ("Provides", "awk")],
            Executable("usr/bin/mawk", "#!/bin/sh\nexit 0\n")),
        P("gawk", "1:5.2.1-2", "amd64", [("Depends", "libc6 (>= 2.38)"), ("Provides", "awk")],
            Executable("usr/bin/gawk", "#!/bin/sh\nexit 0\n")),
        P("dbus-broker", "36-1", "amd64", [("Depends", "libc6 (>= 2.38), systemd (>= 250)"), ("Provides", "dbus-system-bus")],
            Executable("usr/bin/dbus-broker", "#!/bin/sh\nexit 0\n")),
        P("extra-tool", "1.0-1", "amd64", [("Depends", "libc6")],
            Executable("usr/bin/extra-tool", "#!/bin/sh\nexit 0\n")),

        // An unsatisfiable chain: broken-app → broken-lib (>= 1.0) → libc6 (>= 3.0), and libc6 is 2.41.
        P("broken-app", "1.0-1", "amd64", [("Depends", "broken-lib (>= 1.0)")], File("usr/share/broken-app/README", "x\n")),
        P("broken-lib", "1.0-1", "amd64", [("Depends", "libc6 (>= 3.0)")], File("usr/share/broken-lib/README", "x\n")),

        // A conflicting pair.
        P("conflict-a", "1.0-1", "amd64", [("Conflicts", "conflict-b")], File("usr/share/conflict-a/README", "a\n")),
        P("conflict-b", "1.0-1", "amd64", [], File("usr/share/conflict-b/README", "b\n")),

        // A pure loop through Pre-Depends and Depends.
        P("loop-a", "1.0-1", "amd64", [("Pre-Depends", "loop-b")], File("usr/share/loop-a/README", "a\n")),
        P("loop-b", "1.0-1", "amd64", [("Depends", "loop-c (>= 1.0)")], File("usr/share/loop-b/README", "b\n")),
        P("loop-c", "1.0-1", "amd64", [("Depends", "loop-a")], File("usr/share/loop-c/README", "c\n")),
    ];

    /// <summary>The well-formed control data of a hostile package (its .deb is made separately).</summary>
    public static TestPackage Hostile(string name) => new(name, "1.0-1", "amd64") { Fields = [("Depends", "libc6")] };

    /// <summary>A good package of the same name as <see cref="Hostile"/>, newer: what a fixed repository serves.</summary>
    public static TestPackage Fixed(string name) => new(name, "1.0-2", "amd64")
    {
        Fields = [("Depends", "libc6")],
        Entries = [File($"usr/share/{name}/README", "fixed\n")],
    };

    /// <summary>data.tar entries of hostile packages, as (name, kind, content, link target, mode).</summary>
    public static (string, TarEntryType, byte[]?, string?, int)[] DotDotEntries =>
    [
        ("./", TarEntryType.Directory, null, null, 0x1ED),
        ("./usr/", TarEntryType.Directory, null, null, 0x1ED),
        ("../../etc/initrd-sdk-evil", TarEntryType.RegularFile, "evil\n"u8.ToArray(), null, 0x1A4),
    ];

    public static (string, TarEntryType, byte[]?, string?, int)[] EscapingSymlinkEntries =>
    [
        ("./", TarEntryType.Directory, null, null, 0x1ED),
        ("./usr/", TarEntryType.Directory, null, null, 0x1ED),
        ("./usr/evil", TarEntryType.SymbolicLink, null, "../../../etc", 0x1FF),
    ];
}
