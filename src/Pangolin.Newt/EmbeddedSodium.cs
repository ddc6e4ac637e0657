using System.Runtime.InteropServices;

namespace Pangolin.Newt;

/// <summary>
/// newt ships as one file: the published binary carries libsodium (NSec's native library, for X25519 and small-packet
/// ChaCha20-Poly1305) as an embedded resource instead of a libsodium.so beside it. At start it is written to an
/// anonymous in-memory file (memfd_create: nothing on disk, nothing to clean up, works on a read-only file system)
/// and loaded from there, and the P/Invokes that name "libsodium" resolve to it. Builds without the resource (tests,
/// `dotnet run`) find the library beside the assembly as usual.
/// </summary>
internal static partial class EmbeddedSodium
{
    private const string ResourceName = "libsodium.so";
    private const string LibraryName = "libsodium";
    private const uint MfdCloexec = 1;

    /// <summary>Loads the embedded library if there is one; false when there is none (the usual lookup then applies).</summary>
    /// <exception cref="IOException">The library could not be put in memory or loaded.</exception>
    public static bool Register()
    {
        using var library = typeof(EmbeddedSodium).Assembly.GetManifestResourceStream(ResourceName);
        if (library is null)
        {
            return false;
        }
        var fd = memfd_create(LibraryName, MfdCloexec);
        if (fd < 0)
        {
            throw new IOException($"memfd_create failed (errno {Marshal.GetLastPInvokeError()}): cannot load the embedded libsodium.");
        }
        // The descriptor stays open until dlopen has mapped the library, which keeps its own mapping after.
        using var file = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        var bytes = new byte[library.Length];
        library.ReadExactly(bytes);
        RandomAccess.Write(file, bytes, fileOffset: 0);
        nint handle;
        try
        {
            handle = NativeLibrary.Load($"/proc/self/fd/{fd}");
        }
        catch (DllNotFoundException e)
        {
            throw new IOException("the embedded libsodium could not be loaded: " + e.Message, e);
        }
        DllImportResolver resolver = (name, _, _) => name == LibraryName ? handle : 0;
        foreach (var assembly in new[] { typeof(NSec.Cryptography.Key).Assembly, typeof(Pangolin.WireGuard.Configuration.WgKey).Assembly })
        {
            NativeLibrary.SetDllImportResolver(assembly, resolver);
        }
        return true;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int memfd_create(string name, uint flags);
}
