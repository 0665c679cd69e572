public enum ElectionPlaceholder {}
