using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Pangolin.WireGuard.Crypto;

/// <summary>
/// BLAKE2s (RFC 7693) as WireGuard uses it: HASH() is BLAKE2s-256, MAC() is keyed BLAKE2s with a 16-byte
/// output and HMAC() is RFC 2104 over BLAKE2s-256 (whitepaper §5.4). Everything here runs on the stack:
/// no allocation, so the handshake and the cookie MAC checks cost no garbage.
/// </summary>
public static class Blake2s
{
    /// <summary>The largest (and WireGuard's) digest size in bytes.</summary>
    public const int HashSize = 32;

    /// <summary>The compression block size in bytes; also HMAC's block size B (RFC 2104).</summary>
    public const int BlockSize = 64;

    /// <summary>The longest key keyed BLAKE2s accepts (RFC 7693 §2.1: kk ≤ 32).</summary>
    public const int MaxKeySize = 32;

    /// <summary>BLAKE2s of <paramref name="input"/>; the digest size is <c>output.Length</c> (1..32).</summary>
    public static void Hash(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var state = new Blake2sState(output.Length);
        state.Update(input);
        state.Final(output);
    }

    /// <summary>BLAKE2s of a‖b without building the concatenation (HASH(Ci ‖ ...) in the whitepaper).</summary>
    public static void Hash(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> output)
    {
        var state = new Blake2sState(output.Length);
        state.Update(a);
        state.Update(b);
        state.Final(output);
    }

    /// <summary>
    /// Keyed BLAKE2s (RFC 7693 §3.3) with a 1..32-byte key and a 1..32-byte output. WireGuard's MAC() is this
    /// with a 32-byte key and a 16-byte output (mac1 and mac2, whitepaper §5.4.4).
    /// </summary>
    public static void Mac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (key.IsEmpty)
        {
            throw new ArgumentException("A BLAKE2s MAC needs a key of 1..32 bytes.", nameof(key));
        }
        var state = new Blake2sState(output.Length, key);
        state.Update(input);
        state.Final(output);
    }

    /// <summary>
    /// HMAC-BLAKE2s-256 (RFC 2104 with B = 64, L = 32), the HMAC() of whitepaper §5.4. Writes 32 bytes.
    /// The output may overlap the key or the input: both are consumed before the output is written.
    /// </summary>
    public static void Hmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> output32) =>
        Hmac(key, input, [], output32);

    /// <summary>HMAC-BLAKE2s-256 of input1‖input2 (the KDF chains T(i-1) ‖ i this way without a copy).</summary>
    internal static void Hmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input1, ReadOnlySpan<byte> input2, Span<byte> output32)
    {
        if (output32.Length < HashSize)
        {
            throw new ArgumentException($"HMAC-BLAKE2s writes {HashSize} bytes.", nameof(output32));
        }

        // RFC 2104 §2: K is padded with zeros to B bytes; a key longer than B is first replaced by H(K).
        Span<byte> pad = stackalloc byte[BlockSize];
        pad.Clear();
        if (key.Length > BlockSize)
        {
            Hash(key, pad[..HashSize]);
        }
        else
        {
            key.CopyTo(pad);
        }

        Span<byte> inner = stackalloc byte[HashSize];
        XorAll(pad, 0x36);
        var state = new Blake2sState(HashSize);
        state.Update(pad);
        state.Update(input1);
        state.Update(input2);
        state.Final(inner);

        // K ^ opad = (K ^ ipad) ^ (ipad ^ opad): flip the pad in place instead of keeping a second copy of K.
        XorAll(pad, 0x36 ^ 0x5c);
        state = new Blake2sState(HashSize);
        state.Update(pad);
        state.Update(inner);
        state.Final(output32[..HashSize]);

        CryptographicOperations.ZeroMemory(pad);
        CryptographicOperations.ZeroMemory(inner);
    }

    private static void XorAll(Span<byte> block, byte value)
    {
        // 64 bytes: eight 64-bit words.
        var words = MemoryMarshal.Cast<byte, ulong>(block);
        var pattern = 0x0101010101010101UL * value;
        for (var i = 0; i < words.Length; i++)
        {
            words[i] ^= pattern;
        }
    }
}

/// <summary>
/// Incremental BLAKE2s (RFC 7693 §3): <see cref="Init"/>, any number of <see cref="Update"/> calls, then
/// <see cref="Final"/>. A plain struct (about 110 bytes) so it lives on the stack; copying it copies the
/// running state (and any key), which lets a caller precompute a keyed prefix once. <see cref="Final"/> wipes it.
/// </summary>
public struct Blake2sState
{
    // RFC 7693 §2.6: the IV is SHA-256's initial hash value.
    private const uint Iv0 = 0x6A09E667;
    private const uint Iv1 = 0xBB67AE85;
    private const uint Iv2 = 0x3C6EF372;
    private const uint Iv3 = 0xA54FF53A;
    private const uint Iv4 = 0x510E527F;
    private const uint Iv5 = 0x9B05688C;
    private const uint Iv6 = 0x1F83D9AB;
    private const uint Iv7 = 0x5BE0CD19;

    private Blake2sWords _h;
    private Blake2sBlock _buffer;
    private ulong _t;
    private int _bufferLength;
    private int _outputLength;

    /// <summary>Starts a hash with a digest of <paramref name="outputLength"/> bytes and an optional key.</summary>
    public Blake2sState(int outputLength, ReadOnlySpan<byte> key = default) => Init(outputLength, key);

    /// <summary>
    /// (Re)starts the state: digest size 1..32 bytes, key 0..32 bytes (empty = unkeyed). RFC 7693 §3.3: the
    /// parameter block's first word is 0x0101kknn and a key is processed as a first block padded with zeros.
    /// </summary>
    public void Init(int outputLength, ReadOnlySpan<byte> key = default)
    {
        if (outputLength is < 1 or > Blake2s.HashSize)
        {
            throw new ArgumentOutOfRangeException(nameof(outputLength), outputLength, "BLAKE2s digests are 1..32 bytes.");
        }
        if (key.Length > Blake2s.MaxKeySize)
        {
            throw new ArgumentException("BLAKE2s keys are at most 32 bytes.", nameof(key));
        }

        _h[0] = Iv0 ^ 0x01010000u ^ ((uint)key.Length << 8) ^ (uint)outputLength;
        _h[1] = Iv1;
        _h[2] = Iv2;
        _h[3] = Iv3;
        _h[4] = Iv4;
        _h[5] = Iv5;
        _h[6] = Iv6;
        _h[7] = Iv7;
        _t = 0;
        _outputLength = outputLength;

        Span<byte> buffer = _buffer;
        buffer.Clear();
        _bufferLength = 0;
        if (!key.IsEmpty)
        {
            // The padded key is a full block of "message"; it stays buffered so that a keyed hash of the empty
            // message still compresses it as the final block.
            key.CopyTo(buffer);
            _bufferLength = Blake2s.BlockSize;
        }
    }

    /// <summary>Absorbs more input.</summary>
    public void Update(ReadOnlySpan<byte> data)
    {
        EnsureInitialized();
        if (data.IsEmpty)
        {
            return;
        }

        Span<byte> buffer = _buffer;
        var free = Blake2s.BlockSize - _bufferLength;
        if (data.Length > free)
        {
            // The buffered block is not the last one (more input follows): compress it now.
            data[..free].CopyTo(buffer[_bufferLength..]);
            data = data[free..];
            _t += Blake2s.BlockSize;
            Compress(buffer, final: false);
            _bufferLength = 0;

            // Whole blocks straight from the input, always keeping at least one byte back for Final.
            while (data.Length > Blake2s.BlockSize)
            {
                _t += Blake2s.BlockSize;
                Compress(data[..Blake2s.BlockSize], final: false);
                data = data[Blake2s.BlockSize..];
            }
        }
        data.CopyTo(buffer[_bufferLength..]);
        _bufferLength += data.Length;
    }

    /// <summary>
    /// Writes the digest (the first <c>outputLength</c> bytes of <paramref name="output"/>, which must be at least
    /// that long) and wipes the state; call <see cref="Init"/> to use it again.
    /// </summary>
    public void Final(Span<byte> output)
    {
        EnsureInitialized();
        if (output.Length < _outputLength)
        {
            throw new ArgumentException($"The digest is {_outputLength} bytes.", nameof(output));
        }

        // RFC 7693 §3.2: the last block is zero-padded, t counts only the real bytes, and f0 is all ones.
        Span<byte> buffer = _buffer;
        buffer[_bufferLength..].Clear();
        _t += (uint)_bufferLength;
        Compress(buffer, final: true);

        Span<byte> digest = stackalloc byte[Blake2s.HashSize];
        for (var i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(digest[(i * 4)..], _h[i]);
        }
        digest[.._outputLength].CopyTo(output);

        CryptographicOperations.ZeroMemory(digest);
        CryptographicOperations.ZeroMemory(buffer);
        CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes((Span<uint>)_h));
        _t = 0;
        _bufferLength = 0;
        _outputLength = 0;
    }

    private readonly void EnsureInitialized()
    {
        if (_outputLength == 0)
        {
            throw new InvalidOperationException("Call Blake2sState.Init before Update or Final.");
        }
    }

    /// <summary>The compression function F (RFC 7693 §3.2), ten rounds unrolled with the SIGMA schedule.</summary>
    private void Compress(ReadOnlySpan<byte> block, bool final)
    {
        ref var b = ref MemoryMarshal.GetReference(block);
        var m0 = Load(ref b, 0);
        var m1 = Load(ref b, 4);
        var m2 = Load(ref b, 8);
        var m3 = Load(ref b, 12);
        var m4 = Load(ref b, 16);
        var m5 = Load(ref b, 20);
        var m6 = Load(ref b, 24);
        var m7 = Load(ref b, 28);
        var m8 = Load(ref b, 32);
        var m9 = Load(ref b, 36);
        var m10 = Load(ref b, 40);
        var m11 = Load(ref b, 44);
        var m12 = Load(ref b, 48);
        var m13 = Load(ref b, 52);
        var m14 = Load(ref b, 56);
        var m15 = Load(ref b, 60);

        var v0 = _h[0];
        var v1 = _h[1];
        var v2 = _h[2];
        var v3 = _h[3];
        var v4 = _h[4];
        var v5 = _h[5];
        var v6 = _h[6];
        var v7 = _h[7];
        var v8 = Iv0;
        var v9 = Iv1;
        var v10 = Iv2;
        var v11 = Iv3;
        var v12 = Iv4 ^ (uint)_t;
        var v13 = Iv5 ^ (uint)(_t >> 32);
        var v14 = final ? ~Iv6 : Iv6;
        var v15 = Iv7;

        // Round 0: SIGMA[0] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }
        G(ref v0, ref v4, ref v8, ref v12, m0, m1);
        G(ref v1, ref v5, ref v9, ref v13, m2, m3);
        G(ref v2, ref v6, ref v10, ref v14, m4, m5);
        G(ref v3, ref v7, ref v11, ref v15, m6, m7);
        G(ref v0, ref v5, ref v10, ref v15, m8, m9);
        G(ref v1, ref v6, ref v11, ref v12, m10, m11);
        G(ref v2, ref v7, ref v8, ref v13, m12, m13);
        G(ref v3, ref v4, ref v9, ref v14, m14, m15);
        // Round 1: SIGMA[1] = { 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 }
        G(ref v0, ref v4, ref v8, ref v12, m14, m10);
        G(ref v1, ref v5, ref v9, ref v13, m4, m8);
        G(ref v2, ref v6, ref v10, ref v14, m9, m15);
        G(ref v3, ref v7, ref v11, ref v15, m13, m6);
        G(ref v0, ref v5, ref v10, ref v15, m1, m12);
        G(ref v1, ref v6, ref v11, ref v12, m0, m2);
        G(ref v2, ref v7, ref v8, ref v13, m11, m7);
        G(ref v3, ref v4, ref v9, ref v14, m5, m3);
        // Round 2: SIGMA[2] = { 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 }
        G(ref v0, ref v4, ref v8, ref v12, m11, m8);
        G(ref v1, ref v5, ref v9, ref v13, m12, m0);
        G(ref v2, ref v6, ref v10, ref v14, m5, m2);
        G(ref v3, ref v7, ref v11, ref v15, m15, m13);
        G(ref v0, ref v5, ref v10, ref v15, m10, m14);
        G(ref v1, ref v6, ref v11, ref v12, m3, m6);
        G(ref v2, ref v7, ref v8, ref v13, m7, m1);
        G(ref v3, ref v4, ref v9, ref v14, m9, m4);
        // Round 3: SIGMA[3] = { 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 }
        G(ref v0, ref v4, ref v8, ref v12, m7, m9);
        G(ref v1, ref v5, ref v9, ref v13, m3, m1);
        G(ref v2, ref v6, ref v10, ref v14, m13, m12);
        G(ref v3, ref v7, ref v11, ref v15, m11, m14);
        G(ref v0, ref v5, ref v10, ref v15, m2, m6);
        G(ref v1, ref v6, ref v11, ref v12, m5, m10);
        G(ref v2, ref v7, ref v8, ref v13, m4, m0);
        G(ref v3, ref v4, ref v9, ref v14, m15, m8);
        // Round 4: SIGMA[4] = { 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 }
        G(ref v0, ref v4, ref v8, ref v12, m9, m0);
        G(ref v1, ref v5, ref v9, ref v13, m5, m7);
        G(ref v2, ref v6, ref v10, ref v14, m2, m4);
        G(ref v3, ref v7, ref v11, ref v15, m10, m15);
        G(ref v0, ref v5, ref v10, ref v15, m14, m1);
        G(ref v1, ref v6, ref v11, ref v12, m11, m12);
        G(ref v2, ref v7, ref v8, ref v13, m6, m8);
        G(ref v3, ref v4, ref v9, ref v14, m3, m13);
        // Round 5: SIGMA[5] = { 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 }
        G(ref v0, ref v4, ref v8, ref v12, m2, m12);
        G(ref v1, ref v5, ref v9, ref v13, m6, m10);
        G(ref v2, ref v6, ref v10, ref v14, m0, m11);
        G(ref v3, ref v7, ref v11, ref v15, m8, m3);
        G(ref v0, ref v5, ref v10, ref v15, m4, m13);
        G(ref v1, ref v6, ref v11, ref v12, m7, m5);
        G(ref v2, ref v7, ref v8, ref v13, m15, m14);
        G(ref v3, ref v4, ref v9, ref v14, m1, m9);
        // Round 6: SIGMA[6] = { 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 }
        G(ref v0, ref v4, ref v8, ref v12, m12, m5);
        G(ref v1, ref v5, ref v9, ref v13, m1, m15);
        G(ref v2, ref v6, ref v10, ref v14, m14, m13);
        G(ref v3, ref v7, ref v11, ref v15, m4, m10);
        G(ref v0, ref v5, ref v10, ref v15, m0, m7);
        G(ref v1, ref v6, ref v11, ref v12, m6, m3);
        G(ref v2, ref v7, ref v8, ref v13, m9, m2);
        G(ref v3, ref v4, ref v9, ref v14, m8, m11);
        // Round 7: SIGMA[7] = { 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 }
        G(ref v0, ref v4, ref v8, ref v12, m13, m11);
        G(ref v1, ref v5, ref v9, ref v13, m7, m14);
        G(ref v2, ref v6, ref v10, ref v14, m12, m1);
        G(ref v3, ref v7, ref v11, ref v15, m3, m9);
        G(ref v0, ref v5, ref v10, ref v15, m5, m0);
        G(ref v1, ref v6, ref v11, ref v12, m15, m4);
        G(ref v2, ref v7, ref v8, ref v13, m8, m6);
        G(ref v3, ref v4, ref v9, ref v14, m2, m10);
        // Round 8: SIGMA[8] = { 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 }
        G(ref v0, ref v4, ref v8, ref v12, m6, m15);
        G(ref v1, ref v5, ref v9, ref v13, m14, m9);
        G(ref v2, ref v6, ref v10, ref v14, m11, m3);
        G(ref v3, ref v7, ref v11, ref v15, m0, m8);
        G(ref v0, ref v5, ref v10, ref v15, m12, m2);
        G(ref v1, ref v6, ref v11, ref v12, m13, m7);
        G(ref v2, ref v7, ref v8, ref v13, m1, m4);
        G(ref v3, ref v4, ref v9, ref v14, m10, m5);
        // Round 9: SIGMA[9] = { 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 }
        G(ref v0, ref v4, ref v8, ref v12, m10, m2);
        G(ref v1, ref v5, ref v9, ref v13, m8, m4);
        G(ref v2, ref v6, ref v10, ref v14, m7, m6);
        G(ref v3, ref v7, ref v11, ref v15, m1, m5);
        G(ref v0, ref v5, ref v10, ref v15, m15, m11);
        G(ref v1, ref v6, ref v11, ref v12, m9, m14);
        G(ref v2, ref v7, ref v8, ref v13, m3, m12);
        G(ref v3, ref v4, ref v9, ref v14, m13, m0);

        _h[0] ^= v0 ^ v8;
        _h[1] ^= v1 ^ v9;
        _h[2] ^= v2 ^ v10;
        _h[3] ^= v3 ^ v11;
        _h[4] ^= v4 ^ v12;
        _h[5] ^= v5 ^ v13;
        _h[6] ^= v6 ^ v14;
        _h[7] ^= v7 ^ v15;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Load(ref byte block, int offset)
    {
        var word = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref block, offset));
        return BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word);
    }

    /// <summary>The mixing function G (RFC 7693 §3.1) with BLAKE2s's rotations R1..R4 = 16, 12, 8, 7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void G(ref uint a, ref uint b, ref uint c, ref uint d, uint x, uint y)
    {
        a = a + b + x;
        d = uint.RotateRight(d ^ a, 16);
        c += d;
        b = uint.RotateRight(b ^ c, 12);
        a = a + b + y;
        d = uint.RotateRight(d ^ a, 8);
        c += d;
        b = uint.RotateRight(b ^ c, 7);
    }
}

/// <summary>The chained state h[0..7] of BLAKE2s.</summary>
[InlineArray(8)]
internal struct Blake2sWords
{
    private uint _element0;
}

/// <summary>One 64-byte message block.</summary>
[InlineArray(Blake2s.BlockSize)]
internal struct Blake2sBlock
{
    private byte _element0;
}
