/** The shapes every client sees. Times are ISO-8601 strings, so JSON needs no transformer. */

export interface User {
  id: number;
  login: string;
  email: string;
}

export interface Session {
  user: User;
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: string;
}

export interface Room {
  id: string;
  name: string;
  ownerId: number;
  maxMembers: number;
  memberCount: number;
  createdAt: string;
}

export interface Message {
  roomId: string;
  seq: number;
  senderId: number;
  senderLogin: string;
  text: string;
  createdAt: string;
  clientMsgId: string | null;
}

export type RoomEvent = { type: "message"; message: Message } | { type: "removed" };

export interface HistoryPage {
  messages: Message[];
  hasMore: boolean;
}
