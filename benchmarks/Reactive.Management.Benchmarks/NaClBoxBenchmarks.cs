using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Reactive.Management.Crypto;

namespace Reactive.Management.Benchmarks;

/// <summary>NaCl box with the precomputed shared key: seal and open, by plaintext size.</summary>
[MemoryDiagnoser]
public class NaClBoxBenchmarks
{
    private WireGuardKeyPair _server = null!;
    private WireGuardKeyPair _peer = null!;
    private NaClBox _sealing = null!;
    private NaClBox _opening = null!;
    private byte[] _plaintext = null!;
    private byte[] _sealed = null!;

    [Params(0, 64, 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _server = WireGuardKeyPair.Generate();
        _peer = WireGuardKeyPair.Generate();
        _sealing = NaClBox.Create(_peer.PublicKey, _server);
        _opening = NaClBox.Create(_server.PublicKey, _peer);
        _plaintext = RandomNumberGenerator.GetBytes(Size);
        _sealed = _sealing.Seal(_plaintext);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _sealing.Dispose();
        _opening.Dispose();
        _server.Dispose();
        _peer.Dispose();
    }

    [Benchmark]
    public byte[] Seal() => _sealing.Seal(_plaintext);

    [Benchmark]
    public bool Open() => _opening.TryOpen(_sealed, out _);
}
