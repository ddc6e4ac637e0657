// Keeps the light/dark choice for the next visit; the server reads it to render the first page in it.
window.pangolinDashboard = {
  saveTheme: function (mode) {
    document.cookie = "p_theme=" + (mode === "dark" ? "dark" : "light") + "; path=/; max-age=31536000; samesite=lax" +
      (location.protocol === "https:" ? "; secure" : "");
  },
};
