using System.Security.Cryptography;
using Reactive.Management.Crypto;
using Xunit;

namespace Reactive.Management.Tests.Crypto;

public class NaClBoxTests
{
    // RFC 7748 §6.1 / NaCl's box test: Alice's secret key, Bob's public key, and their partners.
    private const string AliceSecret = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    private const string AlicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    private const string BobSecret = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    private const string BobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";

    // NaCl's tests/box.c (also libsodium test/default/box.c): nonce, 131-byte message, expected box (tag + ciphertext).
    private const string Nonce = "69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37";

    private const string Message =
        "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f937763848645e0705";

    private const string ExpectedBox =
        "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5";

    [Fact]
    public void Key_pairs_match_the_RFC_7748_test_vectors()
    {
        using var alice = KeyPair(AliceSecret);
        using var bob = KeyPair(BobSecret);

        Assert.Equal(AlicePublic, Convert.ToHexStringLower(alice.PublicKey.Bytes));
        Assert.Equal(BobPublic, Convert.ToHexStringLower(bob.PublicKey.Bytes));
    }

    [Fact]
    public void Sealing_matches_the_NaCl_box_known_answer()
    {
        using var alice = KeyPair(AliceSecret);
        using var box = NaClBox.Create(WireGuardPublicKey.FromBytes(Convert.FromHexString(BobPublic)), alice);
        var message = Convert.FromHexString(Message);
        var output = new byte[NaClBox.Overhead + message.Length];
        Convert.FromHexString(Nonce).CopyTo(output, 0);

        box.SealWithNonce(message, output);

        // Go's nacl/box and NetBird put the nonce first, then the box: the same bytes.
        Assert.Equal(Nonce + ExpectedBox, Convert.ToHexStringLower(output));
    }

    [Fact]
    public void The_other_side_opens_the_known_answer()
    {
        using var bob = KeyPair(BobSecret);
        using var box = NaClBox.Create(WireGuardPublicKey.FromBytes(Convert.FromHexString(AlicePublic)), bob);

        Assert.True(box.TryOpen(Convert.FromHexString(Nonce + ExpectedBox), out var plaintext));
        Assert.Equal(Message, Convert.ToHexStringLower(plaintext));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(64)]
    [InlineData(1024)]
    public void A_sealed_body_round_trips_and_carries_a_fresh_nonce(int length)
    {
        using var peer = WireGuardKeyPair.Generate();
        using var server = WireGuardKeyPair.Generate();
        using var sealing = NaClBox.Create(server.PublicKey, peer);
        using var opening = NaClBox.Create(peer.PublicKey, server);
        var message = RandomNumberGenerator.GetBytes(length);

        var first = sealing.Seal(message);
        var second = sealing.Seal(message);

        Assert.Equal(NaClBox.Overhead + length, first.Length);
        Assert.False(first.AsSpan(0, 24).SequenceEqual(second.AsSpan(0, 24)));
        Assert.True(opening.TryOpen(first, out var opened));
        Assert.Equal(message, opened);
    }

    [Fact]
    public void Every_tampered_byte_is_detected()
    {
        using var peer = WireGuardKeyPair.Generate();
        using var server = WireGuardKeyPair.Generate();
        using var sealing = NaClBox.Create(server.PublicKey, peer);
        using var opening = NaClBox.Create(peer.PublicKey, server);
        var body = sealing.Seal("hello"u8);

        for (var i = 0; i < body.Length; i++)
        {
            var tampered = (byte[])body.Clone();
            tampered[i] ^= 0x01;
            Assert.False(opening.TryOpen(tampered, out _), $"a flipped bit at byte {i} went unnoticed");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(23)]
    [InlineData(39)]
    public void A_body_shorter_than_nonce_and_tag_is_refused(int length)
    {
        using var peer = WireGuardKeyPair.Generate();
        using var server = WireGuardKeyPair.Generate();
        using var opening = NaClBox.Create(peer.PublicKey, server);

        Assert.False(opening.TryOpen(new byte[length], out var plaintext));
        Assert.Empty(plaintext);
    }

    [Fact]
    public void A_body_sealed_to_another_key_does_not_open()
    {
        using var peer = WireGuardKeyPair.Generate();
        using var server = WireGuardKeyPair.Generate();
        using var otherServer = WireGuardKeyPair.Generate();
        using var sealedToOther = NaClBox.Create(otherServer.PublicKey, peer);
        using var opening = NaClBox.Create(peer.PublicKey, server);

        Assert.False(opening.TryOpen(sealedToOther.Seal("hello"u8), out _));
    }

    [Fact]
    public void A_low_order_public_key_is_refused()
    {
        using var server = WireGuardKeyPair.Generate();
        // A point of small order (libsodium's box test): no shared secret can come of it.
        var lowOrder = Convert.FromHexString("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");

        Assert.Throws<CryptographicException>(() => NaClBox.Create(WireGuardPublicKey.FromBytes(lowOrder), server));
    }

    private static WireGuardKeyPair KeyPair(string hexSecret) =>
        WireGuardKeyPair.FromPrivateKey(Convert.ToBase64String(Convert.FromHexString(hexSecret)));
}
