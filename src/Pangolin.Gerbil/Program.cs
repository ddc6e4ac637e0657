using Pangolin.Gerbil;

// gerbil --interface wg0 --foreground: a TUN-backed WireGuard interface for ip and wg (InterfaceHost).
// gerbil --remote-config http://pangolin:3001/api/v1 ...: an exit node managed by a Pangolin server (ManagedHost).
return await CommandLine.RunAsync(args, CommandLine.ProcessEnvironment(), Console.Out, Console.Error,
    options => options.RemoteConfig is null ? InterfaceHost.RunAsync(options) : ManagedHost.RunAsync(options, Console.Error));
