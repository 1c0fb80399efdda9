import { IsEmail, Length, Matches, MaxLength, MinLength } from 'class-validator';
import { Field, InputType } from 'type-graphql';

@InputType()
export class SignUpInput {
  @Field(() => String)
  @Matches(/^[a-z0-9_]{3,32}$/i, { message: 'handle must be 3 to 32 characters of a-z, 0-9 and _, got "$value"' })
  // Erased accounts are renamed deleted_<id>: no one else may look like one.
  @Matches(/^(?!deleted_)/i, { message: 'handles starting with "deleted_" are reserved for erased accounts' })
  handle!: string;

  /** Normalised and counted in code points by the service (1..64, a visible character). */
  @Field(() => String)
  @MaxLength(512, { message: 'displayName must be at most 64 characters' })
  displayName!: string;

  @Field(() => String)
  @MaxLength(254, { message: 'email must be at most 254 characters' })
  @IsEmail({}, { message: 'email must be an e-mail address, got "$value"' })
  // RFC 2606 reserves .invalid: no mailbox has it, and erased accounts' addresses use it.
  @Matches(/^(?!.*\.invalid$)/i, { message: 'addresses in the .invalid domain cannot receive mail' })
  email!: string;

  @Field(() => String)
  @MinLength(10, { message: 'password must be at least 10 characters' })
  @MaxLength(256, { message: 'password must be at most 256 characters' })
  password!: string;
}

@InputType()
export class SignInInput {
  @Field(() => String, { description: 'Handle or e-mail address.' })
  @Length(1, 254, { message: 'login must be 1 to 254 characters' })
  login!: string;

  @Field(() => String)
  @Length(1, 256, { message: 'password must be 1 to 256 characters' })
  password!: string;
}
