namespace Pangolin.Fuzzing;

/// <summary>
/// The command line every fuzz project shares (compiled into each, so that SharpFuzz instruments only the library):
///   &lt;target&gt;               run under afl-fuzz (see the project's fuzz.sh)
///   seed &lt;dir&gt;           write the seed corpus, one folder per target
///   replay &lt;target&gt; &lt;file...&gt;   run inputs once (reproduce a finding)
/// </summary>
internal static class FuzzHarness
{
    public static int Run(string[] args, string program, IReadOnlyDictionary<string, Action<byte[]>> targets, IEnumerable<(string Target, string Name, byte[] Data)> seeds)
    {
        if (args.Length >= 2 && args[0] == "seed")
        {
            foreach (var (kind, name, data) in seeds)
            {
                Directory.CreateDirectory(Path.Combine(args[1], kind));
                File.WriteAllBytes(Path.Combine(args[1], kind, name), data);
            }
            return 0;
        }
        if (args.Length >= 3 && args[0] == "replay" && targets.TryGetValue(args[1], out var replay))
        {
            foreach (var file in args[2..])
            {
                replay(File.ReadAllBytes(file));
            }
            return 0;
        }
        if (args.Length == 1 && targets.TryGetValue(args[0], out var target))
        {
            SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
            {
                using var buffer = new MemoryStream();
                stream.CopyTo(buffer);
                target(buffer.ToArray());
            });
            return 0;
        }
        Console.Error.WriteLine($"usage: {program} <" + string.Join('|', targets.Keys) + "> | seed <dir> | replay <target> <file...>");
        return 2;
    }
}
