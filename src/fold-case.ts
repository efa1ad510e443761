/**
 * A field name in the one letter case iCG's JSON binding compares in: .NET matches property names
 * ignoring case by upper-casing each character, so `ſ` is `s` and `ı` is `i` there. Upper then lower
 * case folds those (and the Kelvin sign) like iCG does, and JS's `toLowerCase` alone does not.
 */
export function foldCase(name: string): string {
  return name.toUpperCase().toLowerCase();
}
