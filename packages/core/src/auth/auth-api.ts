import type { LoginInput, RegisterInput, Session, User } from "@anonchat/shared";
import type { AccessClaims } from "./tokens.js";

/**
 * What the transports need from auth. AuthService implements it in the process that owns users
 * and sessions; a chat process in the split deployment implements it by calling that process,
 * verifying access tokens locally with the published public key.
 */
export interface AuthApi {
  /** clientIp: whose hashing lane the registration waits in. */
  register(input: RegisterInput, clientIp: string): Promise<Session>;
  login(input: LoginInput, clientIp: string): Promise<Session>;
  refresh(refreshToken: string): Promise<Session>;
  logout(refreshToken: string): Promise<{ ok: true }>;
  me(userId: number): Promise<User>;
  /** Verifies with the keys held now (synchronous). */
  verifyAccessToken(token: string): AccessClaims;
  /** The same, but a kid not held yet waits for one fetch of the key set (see AccessTokens.verifyFresh). */
  verifyAccessTokenFresh(token: string): Promise<AccessClaims>;
  isSessionActive(sessionId: string): Promise<boolean>;
}
