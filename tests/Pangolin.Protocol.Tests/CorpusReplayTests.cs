using Pangolin.Protocol.Fuzz;

namespace Pangolin.Protocol.Tests;

/// <summary>
/// Replays the fuzzer's regression corpus (tests/Pangolin.Protocol.Fuzz/corpus) through the same targets, with every
/// truncation and a bit flip at every position of each input, so a decoder that throws the wrong exception fails here
/// without AFL.
/// </summary>
public sealed class CorpusReplayTests
{
    public static TheoryData<string> Targets => new(FuzzTargets.All.Keys);

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_corpus_input_and_its_mutations_are_handled(string target)
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

    [Fact]
    public void The_targets_take_non_utf8_text_wrong_shaped_data_and_truncated_gzip_without_throwing()
    {
        // Each is refused through the expected path: a message for the target, JsonException for the payload,
        // ProtocolException for the frame.
        FuzzTargets.All["target"]([0xff, 0xfe, 0x3a]);
        FuzzTargets.All["frame"]("{\"type\":\"newt/wg/connect\",\"data\":[1,2]}"u8.ToArray());
        FuzzTargets.All["gzip"]([0x1f, 0x8b, 0x08, 0x00]);
    }
}
