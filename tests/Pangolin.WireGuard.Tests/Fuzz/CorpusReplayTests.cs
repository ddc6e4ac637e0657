using Pangolin.WireGuard.Fuzz;

namespace Pangolin.WireGuard.Tests.Fuzz;

/// <summary>
/// Replays the fuzzers' regression corpus (tests/Pangolin.WireGuard.Fuzz/corpus: seeds, inputs that found new
/// paths, and any input that once crashed) through the same targets: every one must be handled without an exception.
/// </summary>
public sealed class CorpusReplayTests
{
    public static TheoryData<string> Targets => new(FuzzTargets.All.Keys);

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_corpus_input_is_handled(string target)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "corpus", target);
        var files = Directory.GetFiles(folder);
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var data = File.ReadAllBytes(file);
            FuzzTargets.All[target](data);
            // Truncations and bit flips of each input too: the cheapest fuzzing there is, run on every build.
            for (var length = 0; length < data.Length; length += Math.Max(1, data.Length / 16))
            {
                FuzzTargets.All[target](data[..length]);
            }
            for (var i = 0; i < data.Length; i += Math.Max(1, data.Length / 32))
            {
                var flipped = (byte[])data.Clone();
                flipped[i] ^= 0xFF;
                FuzzTargets.All[target](flipped);
            }
        }
    }

    [Fact]
    public void The_seeds_reach_deep_into_the_protocol()
    {
        // The initiation seed must pass MAC1 and the handshake (else the fuzzer only ever sees the first check),
        // and the transport seeds must decrypt.
        var seeds = FuzzTargets.Seeds().ToList();
        Assert.Contains(seeds, s => s.Name == "initiation");
        Assert.True(FuzzTargets.ProbeDepth(seeds.Single(s => s.Name == "initiation").Data) >= FuzzTargets.Depth.SessionDerived);
        Assert.True(FuzzTargets.ProbeDepth(seeds.Single(s => s.Name == "transport-ipv4").Data) >= FuzzTargets.Depth.Decrypted);
    }
}
