using System.Runtime.InteropServices;

namespace Pangolin.WireGuard.Noise;

/// <summary>
/// OpenSSL's ChaCha20-Poly1305 through its EVP interface, called directly with one cipher context per key that is
/// set up once and then only re-armed with each packet's nonce. The BCL's ChaCha20Poly1305 reaches the same code,
/// but each call goes through several native shims that clear OpenSSL's thread error queue and take SafeHandle
/// references: measured on the tunnel's data path, that wrapping cost as much again as the cipher (ERR_clear_error
/// alone was 4 % of all CPU). Contexts are not thread-safe: each is used by one thread at a time.
/// </summary>
internal static unsafe partial class OpenSsl
{
    private const string Library = "libcrypto.so.3";
    private const int EncryptMode = 1;
    private const int DecryptMode = 0;
    private const int CtrlAeadGetTag = 0x10;
    private const int CtrlAeadSetTag = 0x11;

    private static readonly nint Cipher = FetchCipher();

    /// <summary>False when libcrypto 3 cannot be loaded; callers then use libsodium for every size.</summary>
    public static bool IsAvailable => Cipher != 0;

    /// <summary>A context holding <paramref name="key"/> for one direction; free it with <see cref="Free"/>.</summary>
    public static nint CreateContext(ReadOnlySpan<byte> key, bool encrypt)
    {
        if (!IsAvailable)
        {
            throw new PlatformNotSupportedException("libcrypto.so.3 is not available.");
        }
        var context = EVP_CIPHER_CTX_new();
        if (context == 0)
        {
            throw new System.Security.Cryptography.CryptographicException("EVP_CIPHER_CTX_new failed.");
        }
        fixed (byte* k = key)
        {
            if (EVP_CipherInit_ex(context, Cipher, 0, k, null, encrypt ? EncryptMode : DecryptMode) != 1)
            {
                EVP_CIPHER_CTX_free(context);
                ERR_clear_error();
                throw new System.Security.Cryptography.CryptographicException("EVP_CipherInit_ex refused the ChaCha20-Poly1305 key.");
            }
        }
        return context;
    }

    /// <summary>Frees a context; OpenSSL wipes the key schedule it holds.</summary>
    public static void Free(nint context) => EVP_CIPHER_CTX_free(context);

    /// <summary>Encrypts <paramref name="data"/> in place (no associated data) and writes the 16-byte tag.</summary>
    public static void Encrypt(nint context, ReadOnlySpan<byte> nonce, Span<byte> data, Span<byte> tag)
    {
        fixed (byte* n = nonce)
        fixed (byte* d = data)
        fixed (byte* t = tag)
        {
            int written, final;
            if (EVP_CipherInit_ex(context, 0, 0, null, n, EncryptMode) != 1
                || EVP_CipherUpdate(context, d, &written, d, data.Length) != 1
                || EVP_CipherFinal_ex(context, d + written, &final) != 1
                || EVP_CIPHER_CTX_ctrl(context, CtrlAeadGetTag, tag.Length, t) != 1)
            {
                ERR_clear_error();
                throw new System.Security.Cryptography.CryptographicException("OpenSSL failed to encrypt a packet.");
            }
        }
    }

    /// <summary>
    /// Decrypts in place and checks the tag; false when it does not verify, with the data zeroed (OpenSSL decrypts
    /// before it checks, and unauthenticated plaintext must not linger in a pooled buffer).
    /// </summary>
    public static bool Decrypt(nint context, ReadOnlySpan<byte> nonce, Span<byte> data, ReadOnlySpan<byte> tag)
    {
        fixed (byte* n = nonce)
        fixed (byte* d = data)
        fixed (byte* t = tag)
        {
            int written, final;
            if (EVP_CipherInit_ex(context, 0, 0, null, n, DecryptMode) != 1
                || EVP_CIPHER_CTX_ctrl(context, CtrlAeadSetTag, tag.Length, t) != 1
                || EVP_CipherUpdate(context, d, &written, d, data.Length) != 1)
            {
                ERR_clear_error();
                throw new System.Security.Cryptography.CryptographicException("OpenSSL failed to decrypt a packet.");
            }
            if (EVP_CipherFinal_ex(context, d + written, &final) != 1)
            {
                ERR_clear_error(); // a wrong tag leaves an error on the thread's queue
                data.Clear();
                return false;
            }
            return true;
        }
    }

    private static nint FetchCipher()
    {
        try
        {
            // An explicit fetch once, so that no call on the data path looks the algorithm up again.
            return EVP_CIPHER_fetch(0, "ChaCha20-Poly1305", null);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return 0;
        }
    }

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint EVP_CIPHER_fetch(nint libraryContext, string algorithm, string? properties);

    [LibraryImport(Library)]
    private static partial nint EVP_CIPHER_CTX_new();

    [LibraryImport(Library)]
    private static partial void EVP_CIPHER_CTX_free(nint context);

    [LibraryImport(Library)]
    private static partial int EVP_CipherInit_ex(nint context, nint cipher, nint engine, byte* key, byte* iv, int encrypt);

    [LibraryImport(Library)]
    private static partial int EVP_CipherUpdate(nint context, byte* output, int* outputLength, byte* input, int inputLength);

    [LibraryImport(Library)]
    private static partial int EVP_CipherFinal_ex(nint context, byte* output, int* outputLength);

    [LibraryImport(Library)]
    private static partial int EVP_CIPHER_CTX_ctrl(nint context, int type, int argument, void* pointer);

    [LibraryImport(Library)]
    private static partial void ERR_clear_error();
}
