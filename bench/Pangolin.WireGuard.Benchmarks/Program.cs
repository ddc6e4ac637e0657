using BenchmarkDotNet.Running;

namespace Pangolin.WireGuard.Benchmarks;

/// <summary>
/// Micro-benchmarks of the WireGuard building blocks. Run all of them with
/// <c>dotnet run -c Release --project bench/Pangolin.WireGuard.Benchmarks -- --filter '*'</c>
/// (add <c>--job short</c> for a quick pass).
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
