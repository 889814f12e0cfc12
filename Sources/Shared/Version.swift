/// The one version string of the three executables (`--version`) and of what argus-agent reports on register.
public enum ArgusVersion {
    public static let string = "0.4.0"
}
