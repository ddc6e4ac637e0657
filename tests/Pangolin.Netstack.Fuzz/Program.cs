using Pangolin.Netstack.Fuzz;

// dotnet Pangolin.Netstack.Fuzz.dll <packet>   run under afl-fuzz (see fuzz.sh)
// dotnet Pangolin.Netstack.Fuzz.dll seed <dir>                  write the seed corpus
// dotnet Pangolin.Netstack.Fuzz.dll replay <target> <file...>   run inputs once (reproduce a finding)
if (args.Length >= 2 && args[0] == "seed")
{
    foreach (var (kind, name, data) in FuzzTargets.Seeds())
    {
        Directory.CreateDirectory(Path.Combine(args[1], kind));
        File.WriteAllBytes(Path.Combine(args[1], kind, name), data);
    }
    return 0;
}
if (args.Length >= 3 && args[0] == "replay" && FuzzTargets.All.TryGetValue(args[1], out var replay))
{
    foreach (var file in args[2..])
    {
        replay(File.ReadAllBytes(file));
    }
    return 0;
}
if (args.Length == 1 && FuzzTargets.All.TryGetValue(args[0], out var target))
{
    SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        target(buffer.ToArray());
    });
    return 0;
}
Console.Error.WriteLine("usage: Pangolin.Netstack.Fuzz <" + string.Join('|', FuzzTargets.All.Keys) + "> | seed <dir> | replay <target> <file...>");
return 2;
