using System.Globalization;
using System.Text;

namespace Reactive.Management.Diagnostics;

/// <summary>Makes text that a peer or client chose safe to put in a log line.</summary>
internal static class LogText
{
    /// <summary>The most characters of client-chosen text a log line carries.</summary>
    public const int MaxLength = 256;

    /// <summary>
    /// Escapes control characters (CR, LF, ESC, … and the Unicode line and paragraph separators), so that a value cannot
    /// forge a log line or drive a terminal, and cuts it to <see cref="MaxLength"/> characters.
    /// </summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }

        var cut = text.Length > MaxLength;
        var span = cut ? text.AsSpan(0, MaxLength) : text.AsSpan();
        if (!cut && !NeedsEscaping(span))
        {
            return text;
        }

        var escaped = new StringBuilder(span.Length + 16);
        foreach (var c in span)
        {
            _ = c switch
            {
                '\r' => escaped.Append("\\r"),
                '\n' => escaped.Append("\\n"),
                '\t' => escaped.Append("\\t"),
                '\\' => escaped.Append("\\\\"),
                _ when IsUnsafe(c) => escaped.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)),
                _ => escaped.Append(c),
            };
        }

        return cut ? escaped.Append('…').ToString() : escaped.ToString();
    }

    private static bool NeedsEscaping(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (c == '\\' || IsUnsafe(c))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsUnsafe(char c) => char.IsControl(c) || c is '\u2028' or '\u2029' || char.GetUnicodeCategory(c) == UnicodeCategory.Format;
}
