namespace Initrd.Image.Finalize;

/// <summary>Permission bits used by the finalize steps, spelled in binary so the octal groups stay visible.</summary>
public static class FileModes
{
    /// <summary>0755: directories and executables.</summary>
    public const int Directory = 0b111_101_101;

    /// <summary>0755.</summary>
    public const int Executable = 0b111_101_101;

    /// <summary>0644: ordinary files.</summary>
    public const int Regular = 0b110_100_100;

    /// <summary>0444: read-only for everybody (/etc/machine-id).</summary>
    public const int ReadOnly = 0b100_100_100;

    /// <summary>0640: /etc/shadow when a "shadow" group exists.</summary>
    public const int OwnerWriteGroupRead = 0b110_100_000;

    /// <summary>0600.</summary>
    public const int OwnerOnly = 0b110_000_000;

    /// <summary>0666 (/dev/null).</summary>
    public const int EverybodyReadWrite = 0b110_110_110;

    /// <summary>0777: symlinks.</summary>
    public const int Symlink = 0b111_111_111;

    /// <summary>Any of the three execute bits (0111).</summary>
    public const int AnyExecute = 0b001_001_001;

    /// <summary>Formats permission bits as octal ("0755") for messages.</summary>
    public static string ToOctal(int permissions) => "0" + Convert.ToString(permissions & 0xFFF, 8).PadLeft(3, '0');
}
