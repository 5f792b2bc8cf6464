using Reactive.Management.Crypto;
using Xunit;

namespace Reactive.Management.Tests.Crypto;

public class WireGuardKeyTests
{
    [Fact]
    public void A_public_key_round_trips_through_its_base64_form()
    {
        using var pair = WireGuardKeyPair.Generate();
        var text = pair.PublicKey.ToString();

        Assert.Equal(44, text.Length);
        Assert.EndsWith("=", text, StringComparison.Ordinal);
        Assert.Equal(pair.PublicKey, WireGuardPublicKey.Parse(text));
    }

    [Fact]
    public void A_private_key_round_trips_and_gives_the_same_public_key()
    {
        using var pair = WireGuardKeyPair.Generate();

        using var restored = WireGuardKeyPair.FromPrivateKey(pair.ExportPrivateKey());

        Assert.Equal(pair.PublicKey, restored.PublicKey);
    }

    [Fact]
    public void A_key_pair_prints_only_its_public_key()
    {
        using var pair = WireGuardKeyPair.Generate();

        Assert.Equal(pair.PublicKey.ToString(), pair.ToString());
        Assert.DoesNotContain(pair.ExportPrivateKey(), pair.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not a key")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")] // 31 bytes
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")] // 34 bytes
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!=")] // not base64
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // 32 bytes, unpadded
    public void Malformed_keys_are_refused(string? text)
    {
        Assert.False(WireGuardPublicKey.TryParse(text, out _));
        Assert.False(WireGuardKeyPair.TryFromPrivateKey(text, out _));
        if (text is not null)
        {
            Assert.Throws<FormatException>(() => WireGuardPublicKey.Parse(text));
        }
    }

    [Fact]
    public void Keys_with_equal_bytes_are_equal()
    {
        var bytes = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();

        Assert.Equal(WireGuardPublicKey.FromBytes(bytes), WireGuardPublicKey.FromBytes(bytes));
        Assert.Equal(WireGuardPublicKey.FromBytes(bytes).GetHashCode(), WireGuardPublicKey.FromBytes(bytes).GetHashCode());
        Assert.NotEqual(WireGuardPublicKey.FromBytes(bytes), WireGuardPublicKey.FromBytes(new byte[32]));
    }
}
