using System.Globalization;

namespace Pangolin.Newt;

/// <summary>
/// Go's <c>time.ParseDuration</c> syntax, which upstream newt's flags and environment variables use: a sequence of
/// decimal numbers, each with an optional fraction and a unit (ns, us, µs, ms, s, m, h), optionally signed:
/// <c>300ms</c>, <c>1.5s</c>, <c>2m30s</c>, <c>1h</c>. A bare <c>0</c> is the only number allowed without a unit.
/// </summary>
internal static class GoDuration
{
    private const long NanosecondsPerTick = 100;

    /// <summary>Parses a Go duration; on failure <paramref name="error"/> says what is wrong.</summary>
    public static bool TryParse(string? text, out TimeSpan duration, out string error)
    {
        duration = TimeSpan.Zero;
        error = "";
        if (string.IsNullOrEmpty(text))
        {
            error = "empty duration; expected a Go duration such as 300ms, 1.5s, 2m30s or 1h";
            return false;
        }

        var s = text.AsSpan();
        var negative = false;
        if (s[0] is '-' or '+')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s is "0")
        {
            return true;
        }
        if (s.IsEmpty)
        {
            error = $"invalid duration \"{text}\"";
            return false;
        }

        ulong total = 0; // nanoseconds, as Go counts
        while (!s.IsEmpty)
        {
            var integerDigits = LeadingDigits(s);
            if (!TryAccumulate(s[..integerDigits], out var whole))
            {
                error = $"duration \"{text}\" is out of range";
                return false;
            }
            s = s[integerDigits..];

            ReadOnlySpan<char> fraction = default;
            var hasPoint = !s.IsEmpty && s[0] == '.';
            if (hasPoint)
            {
                s = s[1..];
                var fractionDigits = LeadingDigits(s);
                fraction = s[..fractionDigits];
                s = s[fractionDigits..];
            }
            if (integerDigits == 0 && fraction.IsEmpty)
            {
                // Neither "5" nor ".5": Go's "invalid duration".
                error = $"invalid duration \"{text}\"";
                return false;
            }

            var unitLength = 0;
            while (unitLength < s.Length && s[unitLength] != '.' && !char.IsAsciiDigit(s[unitLength]))
            {
                unitLength++;
            }
            if (unitLength == 0)
            {
                error = $"missing unit in duration \"{text}\"; use ns, us, ms, s, m or h";
                return false;
            }
            var unitText = s[..unitLength];
            s = s[unitLength..];
            if (!TryUnit(unitText, out var unit))
            {
                error = $"unknown unit \"{unitText}\" in duration \"{text}\"; use ns, us, ms, s, m or h";
                return false;
            }

            if (whole > (ulong)long.MaxValue / unit)
            {
                error = $"duration \"{text}\" is out of range";
                return false;
            }
            var value = (whole * unit) + FractionOf(fraction, unit);
            if (value > long.MaxValue || (total += value) > long.MaxValue)
            {
                error = $"duration \"{text}\" is out of range";
                return false;
            }
        }

        var ticks = (long)(total / NanosecondsPerTick);
        duration = TimeSpan.FromTicks(negative ? -ticks : ticks);
        return true;
    }

    /// <summary>Formats as Go's <c>Duration.String</c> does for whole milliseconds and up: <c>1h2m3.5s</c>, <c>300ms</c>.</summary>
    public static string Format(TimeSpan duration)
    {
        if (duration == TimeSpan.Zero)
        {
            return "0s";
        }
        var sign = duration < TimeSpan.Zero ? "-" : "";
        duration = duration.Duration();
        if (duration < TimeSpan.FromSeconds(1))
        {
            return sign + duration.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture) + "ms";
        }
        var text = sign;
        if (duration.TotalHours >= 1)
        {
            text += ((long)duration.TotalHours).ToString(CultureInfo.InvariantCulture) + "h";
        }
        if (duration.TotalMinutes >= 1)
        {
            text += duration.Minutes.ToString(CultureInfo.InvariantCulture) + "m";
        }
        var seconds = duration.Seconds + (duration.Ticks % TimeSpan.TicksPerSecond / (double)TimeSpan.TicksPerSecond);
        return text + seconds.ToString("0.#######", CultureInfo.InvariantCulture) + "s";
    }

    private static int LeadingDigits(ReadOnlySpan<char> s)
    {
        var i = 0;
        while (i < s.Length && char.IsAsciiDigit(s[i]))
        {
            i++;
        }
        return i;
    }

    private static bool TryAccumulate(ReadOnlySpan<char> digits, out ulong value)
    {
        value = 0;
        foreach (var c in digits)
        {
            if (value > (long.MaxValue - 9) / 10)
            {
                return false;
            }
            value = (value * 10) + (ulong)(c - '0');
        }
        return true;
    }

    /// <summary>The fraction's share of one unit, in nanoseconds (digits past nanosecond precision are dropped, as in Go).</summary>
    private static ulong FractionOf(ReadOnlySpan<char> digits, ulong unit)
    {
        ulong numerator = 0;
        ulong scale = 1;
        foreach (var c in digits)
        {
            if (scale > ulong.MaxValue / 10 / unit)
            {
                break;
            }
            numerator = (numerator * 10) + (ulong)(c - '0');
            scale *= 10;
        }
        return numerator * unit / scale;
    }

    private static bool TryUnit(ReadOnlySpan<char> unit, out ulong nanoseconds)
    {
        nanoseconds = unit switch
        {
            "ns" => 1,
            "us" or "\u00b5s" or "\u03bcs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => 0,
        };
        return nanoseconds != 0;
    }
}
