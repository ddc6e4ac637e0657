using System.Text.RegularExpressions;

namespace Pangolin.Server;

/// <summary>Turns DataAnnotations' sentences ("The field X must be …") into fragments that follow a key name.</summary>
public static partial class ValidationMessages
{
    public static string Normalize(string? message, string member)
    {
        if (string.IsNullOrEmpty(message))
        {
            return "is invalid";
        }
        var fieldPrefix = $"The field {member} ";
        if (message.StartsWith(fieldPrefix, StringComparison.Ordinal))
        {
            message = message[fieldPrefix.Length..];
        }
        else if (message == $"The {member} field is required.")
        {
            message = "is required";
        }
        else if (message.StartsWith($"The {member} field ", StringComparison.Ordinal))
        {
            message = message[$"The {member} field ".Length..];
        }
        else if (message.StartsWith($"The {member} ", StringComparison.Ordinal))
        {
            message = message[$"The {member} ".Length..];
        }
        // MinLength/MaxLength: "must be a string or array type with a minimum length of '1'".
        message = LengthRegex().Replace(message, m => $"must have {(m.Groups[1].Value == "minimum" ? "at least" : "at most")} {m.Groups[2].Value} {(m.Groups[2].Value == "1" ? "item or character" : "items or characters")}");
        return message.TrimEnd('.');
    }

    [GeneratedRegex("must be a string or array type with a (minimum|maximum) length of '([0-9]+)'")]
    private static partial Regex LengthRegex();
}
