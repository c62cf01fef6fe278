from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import serializers as jwt_serializers

from accounts.models import User
from accounts.tokens import RefreshToken


class UserRegisterInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    role = serializers.ChoiceField(choices=User.Role.choices, default=User.Role.CUSTOMER)


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "role", "date_joined"]


class LoginInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True)


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class JWKSerializer(serializers.Serializer):
    kty = serializers.CharField()
    use = serializers.CharField()
    alg = serializers.CharField()
    kid = serializers.CharField()
    n = serializers.CharField()
    e = serializers.CharField()


class JWKSetSerializer(serializers.Serializer):
    keys = JWKSerializer(many=True)


# simplejwt's serializers (SIMPLE_JWT TOKEN_*_SERIALIZER), made to issue and read our tokens.


class TokenObtainPairSerializer(jwt_serializers.TokenObtainPairSerializer):
    token_class = RefreshToken
    default_error_messages = {"no_active_account": "Email or password is incorrect."}


class TokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    token_class = RefreshToken

    def validate(self, attrs: dict) -> dict:
        try:
            return super().validate(attrs)
        except User.DoesNotExist:  # deleted since the token was issued
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            ) from None


class TokenBlacklistSerializer(jwt_serializers.TokenBlacklistSerializer):
    token_class = RefreshToken
