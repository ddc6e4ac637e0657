using Pangolin.Netstack.Fuzz;

namespace Pangolin.Netstack.Tests.Fuzz;

/// <summary>
/// Replays the fuzzer's regression corpus (tests/Pangolin.Netstack.Fuzz/corpus: seeds, inputs that found new paths,
/// and any input that once crashed) through the same targets, with truncations and bit flips of each.
/// </summary>
public sealed class CorpusReplayTests
{
    public static TheoryData<string> Targets => new(FuzzTargets.All.Keys);

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_corpus_input_is_handled(string target)
    {
        var files = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "corpus", target));
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var data = File.ReadAllBytes(file);
            FuzzTargets.All[target](data);
            for (var length = 0; length < data.Length; length++)
            {
                FuzzTargets.All[target](data[..length]);
            }
            for (var i = 0; i < data.Length; i++)
            {
                var flipped = (byte[])data.Clone();
                flipped[i] ^= 0xFF;
                FuzzTargets.All[target](flipped);
            }
        }
    }
}
