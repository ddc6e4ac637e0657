using Microsoft.Extensions.Time.Testing;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Noise;

namespace Pangolin.WireGuard.Tests.Noise;

/// <summary>Noise_IKpsk2 with fixed static keys: both sides derive the same transport keys, and tampering fails.</summary>
public sealed class HandshakeTests
{
    private static readonly byte[] InitiatorPrivate = Convert.FromHexString("e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a");
    private static readonly byte[] ResponderPrivate = Convert.FromHexString("c0e5d6b7a8f9e0d1c2b3a4958677685940312213041526374859607182930a4b");

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private sealed record Sides(StaticIdentity Initiator, StaticIdentity Responder, Handshake AtInitiator, Handshake AtResponder);

    private static Sides Make(byte[]? psk = null)
    {
        var initiator = new StaticIdentity(InitiatorPrivate);
        var responder = new StaticIdentity(ResponderPrivate);
        var atInitiator = new Handshake(initiator, responder.PublicKey) { LocalIndex = 11 };
        var atResponder = new Handshake(responder, initiator.PublicKey) { LocalIndex = 22 };
        if (psk is not null)
        {
            atInitiator.SetPresharedKey(psk);
            atResponder.SetPresharedKey(psk);
        }
        return new Sides(initiator, responder, atInitiator, atResponder);
    }

    private bool Respond(Sides s, byte[] initiation, byte[] response)
    {
        Span<byte> chainKey = stackalloc byte[32];
        Span<byte> hash = stackalloc byte[32];
        Span<byte> initiatorStatic = stackalloc byte[32];
        if (!Handshake.BeginConsumeInitiation(s.Responder, initiation, chainKey, hash, initiatorStatic))
        {
            return false;
        }
        Assert.True(initiatorStatic.SequenceEqual(s.Initiator.PublicKey));
        return s.AtResponder.FinishConsumeInitiation(initiation, chainKey, hash, _time.GetTimestamp(), _time) && s.AtResponder.CreateResponse(response);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Both_sides_derive_matching_transport_keys(bool withPresharedKey)
    {
        var s = Make(withPresharedKey ? WgKey.GeneratePreshared().Bytes.ToArray() : null);
        var initiation = new byte[Protocol.InitiationSize];
        var response = new byte[Protocol.ResponseSize];
        Assert.True(s.AtInitiator.CreateInitiation(initiation, _time));
        Assert.Equal(Protocol.TypeInitiation, initiation[0]);
        Assert.Equal(11u, BitConverter.ToUInt32(initiation, 4));
        Assert.True(Respond(s, initiation, response));
        Assert.Equal(22u, BitConverter.ToUInt32(response, 4));
        Assert.Equal(11u, BitConverter.ToUInt32(response, 8));
        Assert.True(s.AtInitiator.ConsumeResponse(response));

        Span<byte> iSend = stackalloc byte[32], iReceive = stackalloc byte[32], rSend = stackalloc byte[32], rReceive = stackalloc byte[32];
        Assert.True(s.AtInitiator.TryDeriveKeys(iSend, iReceive, out var initiatorRole));
        Assert.True(s.AtResponder.TryDeriveKeys(rSend, rReceive, out var responderRole));
        Assert.True(initiatorRole);
        Assert.False(responderRole);
        Assert.True(iSend.SequenceEqual(rReceive));
        Assert.True(iReceive.SequenceEqual(rSend));
        Assert.False(iSend.SequenceEqual(iReceive));
    }

    [Fact]
    public void Different_preshared_keys_fail_at_the_response()
    {
        var s = Make();
        s.AtInitiator.SetPresharedKey(WgKey.GeneratePreshared().Bytes);
        var initiation = new byte[Protocol.InitiationSize];
        var response = new byte[Protocol.ResponseSize];
        Assert.True(s.AtInitiator.CreateInitiation(initiation, _time));
        Assert.True(Respond(s, initiation, response)); // the responder cannot tell yet
        Assert.False(s.AtInitiator.ConsumeResponse(response));
    }

    [Fact]
    public void Any_flipped_bit_in_an_initiation_or_response_is_refused()
    {
        for (var position = 4; position < Protocol.InitiationSize - 32; position += 7)
        {
            var s = Make();
            var initiation = new byte[Protocol.InitiationSize];
            Assert.True(s.AtInitiator.CreateInitiation(initiation, _time));
            initiation[position] ^= 0x01;
            var accepted = Respond(s, initiation, new byte[Protocol.ResponseSize]);
            // The sender index (bytes 4..7) is not authenticated by the AEADs, only by MAC1 (checked by the device).
            Assert.True(position < 8 ? accepted : !accepted, $"byte {position}");
        }
        for (var position = 12; position < Protocol.ResponseSize - 32; position += 5)
        {
            var s = Make();
            var initiation = new byte[Protocol.InitiationSize];
            var response = new byte[Protocol.ResponseSize];
            Assert.True(s.AtInitiator.CreateInitiation(initiation, _time));
            Assert.True(Respond(s, initiation, response));
            response[position] ^= 0x80;
            Assert.False(s.AtInitiator.ConsumeResponse(response), $"byte {position}");
        }
    }

    [Fact]
    public void A_replayed_initiation_is_refused_by_its_timestamp()
    {
        var s = Make();
        var initiation = new byte[Protocol.InitiationSize];
        Assert.True(s.AtInitiator.CreateInitiation(initiation, _time));
        Assert.True(Respond(s, initiation, new byte[Protocol.ResponseSize]));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(Respond(s, initiation, new byte[Protocol.ResponseSize]));

        // A newer initiation is accepted, but not two within the flood interval.
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(s.AtInitiator.CreateInitiation(initiation, _time));
        Assert.True(Respond(s, initiation, new byte[Protocol.ResponseSize]));
        _time.Advance(TimeSpan.FromMilliseconds(50)); // the timestamp moves on in 16.8 ms steps
        Assert.True(s.AtInitiator.CreateInitiation(initiation, _time));
        Assert.True(Respond(s, initiation, new byte[Protocol.ResponseSize]));
        _time.Advance(TimeSpan.FromMilliseconds(17));
        Assert.True(s.AtInitiator.CreateInitiation(initiation, _time));
        Assert.False(Respond(s, initiation, new byte[Protocol.ResponseSize]));
    }

    [Fact]
    public void A_low_order_public_key_is_refused()
    {
        using var responder = new StaticIdentity(ResponderPrivate);
        var zeroPoint = new byte[32];
        var handshake = new Handshake(responder, zeroPoint);
        Assert.False(handshake.HasValidStaticStatic);
        Assert.False(handshake.CreateInitiation(new byte[Protocol.InitiationSize], _time));
    }

    [Fact]
    public void The_initial_chain_key_and_hash_follow_the_construction_strings()
    {
        // HASH("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"), as every implementation computes it.
        Assert.Equal("60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36", Convert.ToHexStringLower(Protocol.InitialChainKey));
        Assert.Equal("2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3", Convert.ToHexStringLower(Protocol.InitialHash));
    }
}
