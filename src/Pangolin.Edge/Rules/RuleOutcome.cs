namespace Pangolin.Edge.Rules;

/// <summary>What the first matching rule decided (upstream's <c>checkRules</c> result).</summary>
public enum RuleOutcome
{
    /// <summary>No rule matched: go on as if there were no rules.</summary>
    None,

    /// <summary>An ACCEPT rule matched: let the request in without authentication.</summary>
    Accept,

    /// <summary>A DROP rule matched: refuse the request.</summary>
    Drop,

    /// <summary>A PASS rule matched: stop evaluating rules and go on to authentication.</summary>
    Pass,
}
