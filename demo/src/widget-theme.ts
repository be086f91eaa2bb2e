/**
 * The BroadcastChannel on which the widget's window.name responder tells the
 * visible widget (same origin, same frame tree) about a `setTheme` call.
 */
export const THEME_CHANNEL = 'portcullis-demo-theme'
