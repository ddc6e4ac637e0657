namespace Pangolin.Server.Auth;

/// <summary>Upstream's password schema: 8–128 characters with an upper- and lowercase letter, a digit and a symbol.</summary>
public static class PasswordPolicy
{
    public const int MinLength = 8;
    public const int MaxLength = 128;
    public const string Symbols = "~!`@#$%^&*()_-+={}[]|\\:;\"'<>,./?";

    /// <summary>Null when the password is acceptable, else the message that says what is missing.</summary>
    public static string? Check(string? password)
    {
        if (password is null)
        {
            return "A password is required";
        }
        var missing = new List<string>();
        if (password.Length < MinLength)
        {
            missing.Add($"at least {MinLength} characters");
        }
        if (password.Length > MaxLength)
        {
            missing.Add($"at most {MaxLength} characters");
        }
        if (!password.Any(char.IsUpper))
        {
            missing.Add("an uppercase letter");
        }
        if (!password.Any(char.IsLower))
        {
            missing.Add("a lowercase letter");
        }
        if (!password.Any(char.IsDigit))
        {
            missing.Add("a digit");
        }
        if (!password.Any(c => Symbols.Contains(c, StringComparison.Ordinal)))
        {
            missing.Add("a special character (" + Symbols + ")");
        }
        return missing.Count == 0 ? null : "Your password must meet the following conditions: " + string.Join(", ", missing);
    }
}
