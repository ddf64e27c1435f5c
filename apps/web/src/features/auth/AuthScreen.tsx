import { useMutation } from "@tanstack/react-query";
import { useId, useRef, useState, type FormEvent } from "react";
import { loginInput, registerInput, describeIssues, LIMITS } from "@anonchat/shared";
import { useScreen } from "../../app/useScreen";
import { ErrorNotice, InfoNotice } from "../../components/Notice";
import { describeError, type UserMessage } from "../../lib/errors";
import type { SessionStore } from "../../lib/session";
import { useTRPC } from "../../lib/trpc";

type Mode = "login" | "register";

/** Log in or create an account; the form checks input with the same schemas as the server. */
export function AuthScreen({ store, notice, pendingRoom }: { store: SessionStore; notice: string | null; pendingRoom: boolean }) {
  const trpc = useTRPC();
  const [mode, setMode] = useState<Mode>("login");
  const [login, setLogin] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<UserMessage | null>(null);
  const errorId = useId();

  const signIn = useMutation(trpc.auth.login.mutationOptions());
  const register = useMutation(trpc.auth.register.mutationOptions());
  const busy = signIn.isPending || register.isPending;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const parsed =
      mode === "login" ? loginInput.safeParse({ email, password }) : registerInput.safeParse({ login, email, password });
    if (!parsed.success) {
      setError({ kind: "refused", text: sentence(describeIssues(parsed.error)) });
      return;
    }
    try {
      const session =
        mode === "login"
          ? await signIn.mutateAsync({ email, password })
          : await register.mutateAsync({ login, email, password });
      store.signIn(session);
    } catch (err) {
      setError(describeError(err, mode));
    }
  }

  function switchTo(next: Mode) {
    setMode(next);
    setError(null);
  }

  const title = mode === "login" ? "Log in" : "Create an account";
  const heading = useRef<HTMLHeadingElement>(null);
  useScreen(title, heading);
  return (
    <main id="main" className="auth">
      <div className="card auth-card">
        <h1 ref={heading} tabIndex={-1}>
          {title}
        </h1>
        <p className="muted">
          {pendingRoom ? "Log in or create an account to join the room you were invited to." : "Chat in rooms with anyone who has the link."}
        </p>
        {notice ? <InfoNotice>{notice}</InfoNotice> : null}
        <div className="tabs" role="group" aria-label="Account">
          <button type="button" className="tab" aria-pressed={mode === "login"} onClick={() => switchTo("login")}>
            Log in
          </button>
          <button type="button" className="tab" aria-pressed={mode === "register"} onClick={() => switchTo("register")}>
            Create account
          </button>
        </div>
        <form onSubmit={submit} noValidate aria-describedby={error ? errorId : undefined}>
          {mode === "register" ? (
            <div className="field">
              <label htmlFor="auth-login">Login (shown to others)</label>
              <input
                id="auth-login"
                name="login"
                autoComplete="username"
                value={login}
                onChange={(e) => setLogin(e.target.value)}
                required
                minLength={LIMITS.loginMin}
                maxLength={LIMITS.loginMax}
                aria-describedby="auth-login-hint"
              />
              <small id="auth-login-hint" className="hint">
                {LIMITS.loginMin}–{LIMITS.loginMax} letters, digits, _ or -
              </small>
            </div>
          ) : null}
          <div className="field">
            <label htmlFor="auth-email">Email</label>
            <input
              id="auth-email"
              name="email"
              type="email"
              autoComplete="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              required
            />
          </div>
          <div className="field">
            <label htmlFor="auth-password">Password</label>
            <input
              id="auth-password"
              name="password"
              type="password"
              autoComplete={mode === "login" ? "current-password" : "new-password"}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              required
              minLength={mode === "register" ? LIMITS.passwordMin : undefined}
              aria-describedby={mode === "register" ? "auth-password-hint" : undefined}
            />
            {mode === "register" ? (
              <small id="auth-password-hint" className="hint">
                At least {LIMITS.passwordMin} characters
              </small>
            ) : null}
          </div>
          <ErrorNotice error={error} id={errorId} />
          <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
            {busy ? "Please wait…" : title}
          </button>
        </form>
      </div>
    </main>
  );
}

function sentence(s: string): string {
  const t = s.charAt(0).toUpperCase() + s.slice(1);
  return t.endsWith(".") ? t : `${t}.`;
}
